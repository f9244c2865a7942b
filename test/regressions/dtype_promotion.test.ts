// Review: dtype promotion defects in lib/ops/elementwise.ts and lib/autograd.ts.
import * as tn from '../../lib';

describe('bool tensor op integer scalar', () => {
  // elementwise.ts operands(): the scalar is materialised with the *bool* dtype (so 5 -> true = 1)
  // before the result is promoted to int64.
  test('bool + 5', () => {
    // PyTorch: torch.tensor([True, False]) + 5 -> tensor([6, 5])
    expect(tn.tensor([true, false]).add(5).toArray()).toEqual([6, 5]);
  });
  test('bool * 3', () => {
    // PyTorch: torch.tensor([True, False]) * 3 -> tensor([3, 0])
    expect(tn.tensor([true, false]).mul(3).toArray()).toEqual([3, 0]);
  });
  test('bool - 3', () => {
    // PyTorch: torch.tensor([True, False]) - 3 -> tensor([-2, -3])
    expect(tn.tensor([true, false]).sub(3).toArray()).toEqual([-2, -3]);
  });
  test('bool == 2', () => {
    // PyTorch: torch.tensor([True, False]) == 2 -> tensor([False, False])
    expect(tn.tensor([true, false]).eq(2).toArray()).toEqual([false, false]);
  });
});

describe('gradient dtype follows the leaf', () => {
  // autograd.ts runBackward/accumulate never casts an input gradient to the input's dtype
  // (PyTorch's engine does, in validate_outputs), so a float32 leaf combined with a float64
  // tensor gets a float64 .grad.
  test('float32 leaf + float64 tensor gives a float32 grad', () => {
    // PyTorch: a.grad.dtype == torch.float32
    const a = tn.ones([2], { requiresGrad: true });
    a.add(tn.ones([2], { dtype: 'float64' })).sum().backward();
    expect(a.grad!.dtype).toBe('float32');
  });
  test('backward(gradient) of another dtype gives a grad of the leaf dtype', () => {
    // PyTorch: x.grad.dtype == torch.float32
    const x = tn.ones([2], { requiresGrad: true });
    x.mul(2).backward(tn.ones([2], { dtype: 'float64' }));
    expect(x.grad!.dtype).toBe('float32');
  });
  test('SGD can step a float32 parameter used with a float64 tensor', () => {
    // PyTorch: works, p becomes [0.9, 0.9]; tensile throws DTypeError from optimizer.checkGrad
    const p = new tn.nn.Parameter(tn.ones([2]));
    const opt = new tn.optim.SGD([p], { lr: 0.1 });
    p.mul(tn.ones([2], { dtype: 'float64' })).sum().backward();
    expect(() => opt.step()).not.toThrow();
    expect(p.toArray()).toEqual([0.8999999761581421, 0.8999999761581421]);
  });
});
