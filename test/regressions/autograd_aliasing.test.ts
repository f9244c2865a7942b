// Review: gradient storage aliasing and missing in-place checks (lib/autograd.ts, lib/tensor.ts,
// lib/optim/optimizer.ts).
import * as tn from '../../lib';

describe('leaf .grad layout', () => {
  // reduce.ts expandBack() hands a stride-0 expand() view back and autograd.ts accumulate()
  // stores it as .grad, so the PyTorch idiom w.grad.zero_() throws.
  test('x.sum().backward(); x.grad.zero_() works', () => {
    // PyTorch: x.grad is a contiguous tensor; zero_() gives [0, 0, 0]
    const x = tn.ones([3], { requiresGrad: true });
    x.sum().backward();
    expect(() => x.grad!.zero_()).not.toThrow();
    expect(x.grad!.toArray()).toEqual([0, 0, 0]);
  });
  test('x.mean().backward(); x.grad.fill_(1) works', () => {
    const x = tn.ones([3], { requiresGrad: true });
    x.mean().backward();
    expect(() => x.grad!.fill_(1)).not.toThrow();
  });
});

describe('leaf .grad does not alias other tensors', () => {
  // autograd.ts accumulate(): leaf.grad = g.detach() shares storage with the incoming gradient,
  // which may be the caller's `gradient` tensor or another leaf's grad; optimizer.zeroGrad(false)
  // then zeroes it in place.
  test('zeroGrad(false) leaves the caller gradient and other leaves alone', () => {
    // PyTorch: g stays [3, 3] and b.grad stays [3, 3] (b is not in this optimizer)
    const a = tn.ones([2], { requiresGrad: true });
    const b = tn.ones([2], { requiresGrad: true });
    const g = tn.full([2], 3);
    a.add(b).backward(g);
    new tn.optim.SGD([a], { lr: 1 }).zeroGrad(false);
    expect(g.toArray()).toEqual([3, 3]);
    expect(b.grad!.toArray()).toEqual([3, 3]);
  });
  test('leaf.backward(g) then writing g leaves leaf.grad unchanged', () => {
    // PyTorch: x.grad stays [2, 2]
    const x = tn.ones([2], { requiresGrad: true });
    const g = tn.full([2], 2);
    x.backward(g);
    g.fill_(7);
    expect(x.grad!.toArray()).toEqual([2, 2]);
  });
});

describe('in-place modification of a tensor saved for backward', () => {
  // No version counter: fill_/copy_/optimizer.step() on a saved tensor silently changes the
  // gradient. PyTorch raises "one of the variables needed for gradient computation has been
  // modified by an inplace operation".
  test('fill_ after forward is detected', () => {
    const x = tn.ones([2], { requiresGrad: true });
    const w = tn.full([2], 2);
    const y = x.mul(w).sum();
    w.fill_(5);
    // PyTorch: y.backward() raises RuntimeError (tensile silently gives x.grad = [5, 5])
    expect(() => y.backward()).toThrow();
  });
  test('optimizer.step() between forward and backward is detected', () => {
    const lin = new tn.nn.Linear(1, 1, { bias: false });
    tn.noGrad(() => lin.weight.fill_(1));
    const opt = new tn.optim.SGD(lin.parameters(), { lr: 1 });
    const x = tn.ones([1, 1], { requiresGrad: true });
    const y = lin.forward(x).sum();
    lin.weight.grad = tn.ones([1, 1]);
    opt.step();
    // PyTorch: raises RuntimeError (tensile silently gives x.grad = [[0]] from the updated weight)
    expect(() => y.backward()).toThrow();
  });
});
