// Every user mistake in DESIGN.md's Errors section comes back as a typed Error naming the op
// and the shapes, and the process goes on.
import * as tn from '../lib';
const { nn, optim } = tn;
const F = nn.functional;

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error, none was thrown');
}

test('conv2d with the wrong channel count', () => {
  const e = thrown(() => F.conv2d(tn.zeros([20, 3, 28, 28]), tn.zeros([10, 1, 3, 3])));
  expect(e).toBeInstanceOf(tn.ShapeError);
  expect(e.message).toBe('conv2d: input [20, 3, 28, 28] has 3 channels but weight [10, 1, 3, 3] expects 1');
  const m = new nn.Conv2d(1, 10, 3);
  expect(() => m.forward(tn.zeros([2, 3, 28, 28]))).toThrow(tn.ShapeError);
});

test('non-broadcastable shapes', () => {
  const e = thrown(() => tn.zeros([2, 3]).mul(tn.zeros([2, 4])));
  expect(e).toBeInstanceOf(tn.ShapeError);
  expect(e.message).toContain('[2, 3] and [2, 4]');
});

test('matmul shape mismatch', () => {
  const e = thrown(() => tn.zeros([2, 3]).matmul(tn.zeros([4, 5])));
  expect(e).toBeInstanceOf(tn.ShapeError);
  expect(e.message).toContain('matmul');
  expect(e.message).toContain('[2, 3]');
  expect(e.message).toContain('[4, 5]');
  const lin = new nn.Linear(4, 10);
  expect(() => lin.forward(tn.zeros([8, 5]))).toThrow(tn.ShapeError);
});

test('cross-entropy label out of range, negative, or of a float dtype', () => {
  const logits = tn.zeros([4, 10]);
  const e = thrown(() => F.crossEntropy(logits, tn.tensor([1, 2, 12, 3])));
  expect(e).toBeInstanceOf(tn.IndexError);
  expect(e.message).toContain('12');
  expect(e.message).toContain('10 classes');
  expect(() => F.crossEntropy(logits, tn.tensor([1, -3, 2, 3]))).toThrow(tn.IndexError);
  const f = thrown(() => new nn.CrossEntropyLoss().forward(logits, tn.tensor([1, 2, 3, 4], { dtype: 'float32' })));
  expect(f).toBeInstanceOf(tn.DTypeError);
  expect(f.message).toContain('float32');
});

test('backward on a non-scalar without a gradient', () => {
  const x = tn.randn([3, 4], { requiresGrad: true });
  const e = thrown(() => x.mul(2).backward());
  expect(e).toBeInstanceOf(tn.AutogradError);
  expect(e.message).toContain('[3, 4]');
  // with an explicit gradient it works
  x.mul(2).backward(tn.ones([3, 4]));
  expect(x.grad!.toArray()).toEqual(Array.from({ length: 3 }, () => [2, 2, 2, 2]));
});

test('a second backward through a freed graph, and retainGraph', () => {
  const x = tn.randn([5], { requiresGrad: true });
  const y = x.exp().sum();
  y.backward();
  const e = thrown(() => y.backward());
  expect(e).toBeInstanceOf(tn.AutogradError);
  expect(e.message).toContain('second time');
  const z = x.exp().sum();
  z.backward(undefined, { retainGraph: true });
  z.backward();
});

test('negative or NaN learning rate', () => {
  const p = [tn.zeros([3], { requiresGrad: true })];
  for (const lr of [-0.1, NaN]) {
    expect(() => new optim.SGD(p, { lr })).toThrow(tn.ValueError);
    expect(() => new optim.Adam(p, { lr })).toThrow(tn.ValueError);
    expect(() => new optim.AdamW(p, { lr })).toThrow(tn.ValueError);
  }
  expect(thrown(() => new optim.SGD(p, { lr: -0.1 })).message).toContain('-0.1');
});

test('errors never poison the process: work continues after each', () => {
  expect(() => tn.zeros([2]).add(tn.zeros([3]))).toThrow();
  expect(tn.ones([2]).add(tn.ones([2])).toArray()).toEqual([2, 2]);
});
