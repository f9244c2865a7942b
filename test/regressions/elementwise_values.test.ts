// Review: wrong values / gradients in lib/ops/elementwise.ts and lib/ops/reduce.ts.
import * as tn from '../../lib';

describe('where', () => {
  // elementwise.ts where() = cond * a + (1 - cond) * b, so a non-finite value in the branch
  // that is NOT selected poisons the result (0 * inf = NaN, 0 * NaN = NaN).
  test('masking with -inf', () => {
    // PyTorch: torch.where(tensor([True, False]), tensor([1., 2.]), -inf) -> [1., -inf]
    const out = tn.where(tn.tensor([true, false]), tn.tensor([1.5, 2.5]), tn.full([2], -Infinity));
    expect(out.toArray()).toEqual([1.5, -Infinity]);
  });
  test('NaN in the unselected branch (safe-log pattern)', () => {
    // PyTorch: torch.where(tensor([True, False]), tensor([1., nan]), zeros(2)) -> [1., 0.]
    const out = tn.where(tn.tensor([true, false]), tn.tensor([1, NaN]), tn.zeros([2]));
    expect(out.toArray()).toEqual([1, 0]);
  });
});

describe('pow gradient w.r.t. the exponent at base 0', () => {
  // elementwise.ts pow backward: out * log(a) = 0 * -inf = NaN; PyTorch masks base == 0 with
  // exponent >= 0 to a zero gradient.
  test('d(0^b)/db is 0 for b >= 0', () => {
    // PyTorch: b.grad == [0., 4*log(2)]
    const a = tn.tensor([0, 2], { dtype: 'float32' });
    const b = tn.tensor([2, 2], { dtype: 'float32', requiresGrad: true });
    a.pow(b).sum().backward();
    const g = b.grad!.toArray() as number[];
    expect(g[0]).toBe(0);
    expect(g[1]).toBeCloseTo(4 * Math.log(2), 5);
  });
});

describe('division by a scalar', () => {
  // elementwise.ts div(): x / s is computed as x * (1 / s), which is not IEEE division.
  test('float64 49 / 49 is exactly 1', () => {
    // PyTorch (CPU): torch.tensor([49.], dtype=torch.float64) / 49 -> tensor([1.])
    expect(tn.tensor([49], { dtype: 'float64' }).div(49).item()).toBe(1);
  });
});

describe('sum returns a new tensor', () => {
  // reduce.ts sumRaw(): with no dims to reduce (a 0-d input) it returns x itself, then a view,
  // so the "sum" aliases its input's storage.
  test('sum of a 0-d tensor does not alias the input', () => {
    // PyTorch: s = x.sum(); x.fill_(7); s.item() == 2.0
    const x = tn.tensor(2.5);
    const s = x.sum();
    x.fill_(7);
    expect(s.item()).toBe(2.5);
  });
});
