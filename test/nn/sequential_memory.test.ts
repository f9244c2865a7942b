// Deterministic release of memory no caller can reach: gradients made during backward, nn.Sequential's
// intermediates between built-in layers, max-pool indices. Released means disposed at a known point
// (so the caching allocator reuses the block while it is warm), and it must never change a value or
// free something a caller still holds.
import * as tn from '../../lib';
import { Tensor } from '../../lib';
const { nn } = tn;

function classic(): tn.nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 4, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(4, 6, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(6 * 5 * 5, 10),
  );
}

/** The same layers, each wrapped in a user module (not known to keep no tensors): nothing released early. */
class Wrap extends tn.nn.Module {
  seen: Tensor[] = [];
  constructor(readonly inner: tn.nn.Module) {
    super();
  }
  forward(x: Tensor): Tensor {
    this.seen.push(x);
    return this.inner.forward(x);
  }
}

function grads(m: tn.nn.Module): number[][] {
  return m.parameters().map((p) => Array.from(p.grad!.data as Float32Array));
}

function lossOf(m: tn.nn.Module, x: Tensor, y: Tensor): Tensor {
  return tn.F.crossEntropy(m.forward(x), y);
}

describe('nn.Sequential releases its intermediates', () => {
  test('gradients equal those of a chain that releases nothing early', () => {
    tn.manualSeed(3);
    const a = classic();
    const b = new nn.Sequential(...a.children().map((m) => new Wrap(m)));
    const x = tn.randn([3, 1, 28, 28]);
    const y = tn.tensor([1, 7, 3]);
    lossOf(a, x, y).backward();
    const ga = grads(a);
    a.zeroGrad();
    lossOf(b, x, y).backward();
    // The Sequential runs each Conv2d -> ReLU -> MaxPool2d as one op, which sums the weight
    // gradients in another order: equal to float rounding (a freed block reused early would not be).
    const gb = grads(a);
    gb.forEach((g, i) => g.forEach((v, j) => expect(Math.abs(v - ga[i][j])).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(ga[i][j]))));
    // the user module's saved inputs are untouched
    for (const w of b.children() as Wrap[]) for (const t of w.seen) expect(t.isDisposed).toBe(false);
  });

  test('after backward the intermediates are back in the allocator; the output and input stay valid', () => {
    tn.manualSeed(4);
    const m = classic();
    const x = tn.randn([5, 1, 28, 28]);
    const y = tn.tensor([0, 1, 2, 3, 4]);
    const run = () => {
      const out = m.forward(x);
      tn.F.crossEntropy(out, y).backward();
      return out;
    };
    run();
    m.zeroGrad();
    const before = tn.memory.stats().allocated;
    const out = run();
    // What stays: the output (5x10), leaf gradients, the loss and a few small tensors; the
    // activations alone are > 50 KB (conv1 output 5*4*26*26 floats), so a leak would show.
    expect(tn.memory.stats().allocated - before).toBeLessThan(20000);
    expect(out.isDisposed).toBe(false);
    expect(x.isDisposed).toBe(false);
    expect(Number.isFinite((out.sum().item() as number))).toBe(true);
  });

  test('retainGraph keeps everything for a second backward, which then gives the same gradients', () => {
    tn.manualSeed(5);
    const m = classic();
    const loss = lossOf(m, tn.randn([2, 1, 28, 28]), tn.tensor([4, 9]));
    loss.backward(undefined, { retainGraph: true });
    const g1 = grads(m);
    m.zeroGrad();
    loss.backward();
    expect(grads(m)).toEqual(g1);
  });

  test('with gradients off, intermediates are disposed at once and results are unchanged', () => {
    tn.manualSeed(6);
    const m = classic();
    const x = tn.randn([2, 1, 28, 28]);
    const ref = Array.from(tn.noGrad(() => new nn.Sequential(...m.children().map((c) => new Wrap(c))).forward(x)).data as Float32Array);
    const before = tn.memory.stats().allocated;
    const out = tn.noGrad(() => m.forward(x));
    expect(Array.from(out.data as Float32Array)).toEqual(ref);
    expect(tn.memory.stats().allocated - before).toBeLessThan(2000);
  });

  test('identity-like layers and views: an output that is (a view of) an intermediate stays valid', () => {
    tn.manualSeed(7);
    const inner = new nn.Sequential(new nn.ReLU(), new nn.Dropout(0.5), new nn.Identity(), new nn.Flatten());
    inner.eval();
    const x = tn.randn([2, 3, 4]);
    for (const grad of [false, true]) {
      const xi = grad ? x.detach().requiresGrad_(true) : x;
      const out = grad ? inner.forward(xi) : tn.noGrad(() => inner.forward(xi));
      expect(out.shape).toEqual([2, 12]);
      expect(Array.from(out.data as Float32Array)).toEqual(Array.from(x.relu().data as Float32Array));
      if (grad) {
        out.sum().backward();
        expect(Array.from(xi.grad!.data as Float32Array)).toEqual(Array.from(x.gt(0).float().data as Float32Array));
        expect(out.isDisposed).toBe(false);
      }
    }
  });

  test('nested Sequentials', () => {
    tn.manualSeed(8);
    const a = new nn.Sequential(new nn.Sequential(new nn.Linear(4, 5), new nn.ReLU()), new nn.Sequential(new nn.Linear(5, 3), new nn.Tanh()), new nn.Linear(3, 2));
    const b = new nn.Sequential(...a.children().map((c) => new Wrap(c)));
    const x = tn.randn([6, 4]);
    a.forward(x).sum().backward();
    const ga = grads(a);
    a.zeroGrad();
    b.forward(x).sum().backward();
    expect(grads(a)).toEqual(ga);
  });
});

describe('backward releases the gradients it makes', () => {
  test('a gradient passed to two branches (add) and summed back is right', () => {
    const x = tn.tensor([1, 2, 3], { dtype: 'float32', requiresGrad: true });
    const h = x.mul(2);
    const y = h.add(h).mul(h).sum(); // (2h) * h = 2h^2: dy/dx = 4h * 2 = 16x
    y.backward();
    expect(Array.from(x.grad!.data as Float32Array)).toEqual([16, 32, 48]);
  });

  test("the caller's gradient is not disposed", () => {
    const x = tn.tensor([1, 2], { dtype: 'float32', requiresGrad: true });
    const g = tn.tensor([1, 1], { dtype: 'float32' });
    x.mul(3).backward(g);
    expect(g.isDisposed).toBe(false);
    expect(Array.from(x.grad!.data as Float32Array)).toEqual([3, 3]);
    // a leaf whose gradient is the caller's tensor passed straight through keeps a valid copy
    const z = tn.tensor([5, 6], { dtype: 'float32', requiresGrad: true });
    z.add(0).backward(g);
    expect(Array.from(z.grad!.data as Float32Array)).toEqual([1, 1]);
    expect(g.isDisposed).toBe(false);
  });

  test('leaf gradients survive, and accumulate over two backward passes', () => {
    const w = tn.tensor([[1, 2], [3, 4]], { dtype: 'float32', requiresGrad: true });
    const x = tn.tensor([[1, 1]], { dtype: 'float32' });
    x.matmul(w).relu().sum().backward();
    x.matmul(w).relu().sum().backward();
    expect(w.grad!.isDisposed).toBe(false);
    expect(w.grad!.toArray()).toEqual([[2, 2], [2, 2]]);
  });
});

describe('max-pool indices', () => {
  test('returnIndices hands them to the caller, valid after backward', () => {
    const x = tn.randn([1, 2, 4, 4], { requiresGrad: true });
    const { output, indices } = tn.F.maxPool2d(x, 2, { returnIndices: true }) as { output: Tensor; indices: Tensor };
    output.sum().backward();
    expect(indices.isDisposed).toBe(false);
    expect(indices.shape).toEqual([1, 2, 2, 2]);
  });
});
