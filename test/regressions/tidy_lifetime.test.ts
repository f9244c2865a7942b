// Review: tn.tidy() and dispose() release memory that live objects still use (lib/tensor.ts).
import * as tn from '../../lib';

describe('tidy keeps tensors that outlive the scope', () => {
  // tensor.ts tidy()/collectTensors(): only tensors reachable through the returned value (plain
  // objects and arrays) are kept; everything else created inside is disposed, including tensors
  // that were stored into long-lived objects.
  test('a Module built inside tidy stays usable', () => {
    const m = tn.tidy(() => new tn.nn.Linear(2, 3));
    expect(() => m.forward(tn.ones([1, 2]))).not.toThrow(); // throws "tensor used after dispose()"
  });
  test('gradients made by backward() inside tidy survive it', () => {
    const m = new tn.nn.Linear(2, 3);
    const opt = new tn.optim.SGD(m.parameters(), { lr: 0.1 });
    const loss = tn.tidy(() => {
      const l = m.forward(tn.ones([1, 2])).sum();
      l.backward();
      return l.item();
    });
    expect(Number.isFinite(loss)).toBe(true);
    expect(() => opt.step()).not.toThrow(); // p.grad was disposed
  });
  test('optimizer state created inside tidy survives it', () => {
    const m = new tn.nn.Linear(2, 3);
    const opt = new tn.optim.SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });
    const step = () =>
      tn.tidy(() => {
        opt.zeroGrad();
        m.forward(tn.ones([1, 2])).sum().backward();
        opt.step();
      });
    step();
    expect(step).not.toThrow(); // momentum_buffer was disposed
  });
  test('BatchNorm buffers replaced inside tidy survive it', () => {
    const bn = new tn.nn.BatchNorm1d(2);
    tn.tidy(() => bn.forward(tn.randn([4, 2])).sum());
    expect(() => bn.stateDict().num_batches_tracked.item()).not.toThrow();
  });
  test('Module.to inside tidy keeps the converted buffers', () => {
    const bn = new tn.nn.BatchNorm1d(2);
    tn.tidy(() => {
      bn.to('float64');
    });
    bn.eval();
    expect(() => bn.forward(tn.ones([2, 2], { dtype: 'float64' }))).not.toThrow();
  });
  test('an async function passed to tidy is refused, not half-disposed', async () => {
    // tfjs throws "Cannot return a Promise inside of tidy"; tensile disposes the tensors made
    // before the first await and the promise later fails with "tensor used after dispose()".
    let p: Promise<unknown> | undefined;
    let threw = false;
    try {
      p = tn.tidy(async () => {
        const t = tn.ones([2]);
        await null;
        return t.add(1);
      });
    } catch {
      threw = true;
    }
    if (!threw) await expect(p).resolves.toBeDefined();
  });
});
