import * as tn from '../../lib';
test('smoke', () => {
  const a = tn.tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64', requiresGrad: true });
  const b = tn.tensor([10, 20, 30], { dtype: 'float64', requiresGrad: true });
  const c = a.mul(b).add(b).sum();
  c.backward();
  expect(c.item()).toBe(1*10+2*20+3*30+4*10+5*20+6*30 + 2*60);
  expect(a.grad!.toArray()).toEqual([[10, 20, 30], [10, 20, 30]]);
  expect(b.grad!.toArray()).toEqual([7, 9, 11]);
  const m = a.max(1);
  expect(m.values.toArray()).toEqual([3, 6]);
  expect(m.indices.toArray()).toEqual([2, 2]);
  expect(a.permute(1, 0).contiguous().toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
  expect(a.narrow(1, 1, 2).toArray()).toEqual([[2, 3], [5, 6]]);
});
