// Module mechanics: registration order and names, train/eval, to(), apply, state dicts.
import * as tn from '../../lib';
const { nn } = tn;

function classic(): tn.nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 10, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(10, 20, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(500, 10),
  );
}

describe('Module', () => {
  test('parameters are registered in order with PyTorch names', () => {
    const m = classic();
    expect([...m.namedParameters()].map(([k, p]) => `${k}:${p.shape.join('x')}`)).toEqual([
      '0.weight:10x1x3x3', '0.bias:10', '3.weight:20x10x3x3', '3.bias:20', '7.weight:10x500', '7.bias:10',
    ]);
    expect(m.parameters().reduce((s, p) => s + p.numel(), 0)).toBe(6930);
    expect(m.parameters().every((p) => p.requiresGrad)).toBe(true);
  });

  test('default init is PyTorch’s: weights and bias within ±1/sqrt(fan_in)', () => {
    tn.manualSeed(0);
    const lin = new nn.Linear(500, 10);
    const bound = 1 / Math.sqrt(500);
    const w = lin.weight.data as Float32Array;
    expect(Math.max(...w)).toBeLessThanOrEqual(bound);
    expect(Math.min(...w)).toBeGreaterThanOrEqual(-bound);
    // uniform on ±bound has std bound/sqrt(3)
    const mean = w.reduce((a, b) => a + b, 0) / w.length;
    const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
    expect(std).toBeGreaterThan(0.9 * bound / Math.sqrt(3));
    expect(std).toBeLessThan(1.1 * bound / Math.sqrt(3));
    const conv = new nn.Conv2d(10, 20, 3);
    expect(Math.max(...(conv.bias!.data as Float32Array))).toBeLessThanOrEqual(1 / Math.sqrt(90));
  });

  test('manualSeed makes initialisation reproducible', () => {
    tn.manualSeed(42);
    const a = classic().stateDict();
    tn.manualSeed(42);
    const b = classic().stateDict();
    for (const k of Object.keys(a)) expect(Array.from(a[k].data as Float32Array)).toEqual(Array.from(b[k].data as Float32Array));
  });

  test('train/eval propagate to children; apply visits every module', () => {
    const m = classic();
    m.eval();
    expect(m.modules().every((x) => !x.training)).toBe(true);
    m.train();
    expect(m.modules().every((x) => x.training)).toBe(true);
    const names: string[] = [];
    m.apply((x) => names.push(x.constructor.name));
    expect(names[names.length - 1]).toBe('Sequential');
    expect(names.length).toBe(9);
  });

  test("to('float64') converts parameters in place, keeping identity", () => {
    const m = classic();
    const p0 = m.parameters()[0];
    m.to('float64');
    expect(m.parameters()[0]).toBe(p0);
    expect(p0.dtype).toBe('float64');
    const y = m.forward(tn.randn([2, 1, 28, 28], { dtype: 'float64' }));
    expect(y.dtype).toBe('float64');
    expect(y.shape).toEqual([2, 10]);
  });

  test('stateDict round trip restores the same outputs; BatchNorm buffers use PyTorch names', () => {
    const bn = new nn.Sequential(new nn.Linear(4, 3), new nn.BatchNorm1d(3));
    expect(Object.keys(bn.stateDict())).toEqual([
      '0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked',
    ]);
    const a = classic();
    const b = classic();
    b.loadStateDict(a.stateDict());
    const x = tn.randn([3, 1, 28, 28]);
    expect(Array.from(b.forward(x).data as Float32Array)).toEqual(Array.from(a.forward(x).data as Float32Array));
  });

  test('loadStateDict lists every missing, unexpected and mis-shaped key', () => {
    const m = classic();
    const sd = m.stateDict();
    delete sd['0.bias'];
    delete sd['7.bias'];
    sd['extra.weight'] = tn.zeros([2]);
    sd['3.weight'] = tn.zeros([20, 10, 5, 5]);
    let err: Error | undefined;
    try {
      m.loadStateDict(sd);
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(tn.ShapeError);
    expect(err!.message).toContain('Missing key(s) in state_dict: "0.bias", "7.bias".');
    expect(err!.message).toContain('Unexpected key(s) in state_dict: "extra.weight".');
    expect(err!.message).toContain('size mismatch for 3.weight: copying a param with shape [20, 10, 5, 5] from checkpoint, the shape in current model is [20, 10, 3, 3]');
    // non-strict tolerates missing/unexpected keys but still rejects a shape mismatch
    delete sd['3.weight'];
    const r = m.loadStateDict(sd, false);
    expect(r.missingKeys).toEqual(['0.bias', '3.weight', '7.bias']);
    expect(r.unexpectedKeys).toEqual(['extra.weight']);
  });

  test('toString prints the module tree', () => {
    const s = classic().toString();
    expect(s).toContain('(0): Conv2d(1, 10, kernelSize=(3, 3)');
    expect(s).toContain('(7): Linear(inFeatures=500, outFeatures=10, bias=true)');
  });
});

describe('nn.Sequential runs known layer chains as one op', () => {
  const grads = (m: tn.nn.Module) => m.parameters().map((p) => Array.from(p.grad!.data as Float64Array));

  test('Conv2d -> ReLU -> MaxPool2d: the fused op, with the values and gradients of the layers one by one', () => {
    tn.manualSeed(5);
    const seq = new nn.Sequential(new nn.Conv2d(16, 8, 3, { padding: 1, dtype: 'float64' }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.ReLU(), new nn.MaxPool2d(2));
    const x = tn.randn([3, 16, 12, 12], { dtype: 'float64' });
    const out = seq.forward(x);
    // the chain of three at the head, then the pair (ReLU, MaxPool2d)
    expect(out.gradFn!.name).toBe('relu_max_pool2d');
    expect(out.gradFn!.inputs[0]!.gradFn!.name).toBe('conv2d_relu_max_pool2d');
    out.sum().backward();
    const fused = grads(seq);
    seq.zeroGrad();
    let y = x;
    for (const m of seq.children()) y = m.forward(y);
    expect(Array.from(y.data as Float64Array)).toEqual(Array.from(out.data as Float64Array));
    y.sum().backward();
    grads(seq).forEach((g, i) => g.forEach((v, j) => expect(Math.abs(v - fused[i][j])).toBeLessThan(1e-12 * (1 + Math.abs(v)))));
  });

  test('subclasses are not matched: they may do what they like', () => {
    class Conv2dTimesTwo extends nn.Conv2d {
      forward(x: tn.Tensor): tn.Tensor {
        return super.forward(x).mul(2);
      }
    }
    tn.manualSeed(6);
    const seq = new nn.Sequential(new Conv2dTimesTwo(3, 4, 3), new nn.ReLU(), new nn.MaxPool2d(2));
    const x = tn.randn([2, 3, 8, 8]);
    const out = seq.forward(x);
    expect(out.gradFn!.name).toBe('relu_max_pool2d');
    const conv = seq.children()[0] as Conv2dTimesTwo;
    const ref = tn.F.maxPool2d(tn.F.relu(tn.F.conv2d(x, conv.weight, conv.bias).mul(2)), 2) as tn.Tensor;
    expect(Array.from(out.data as Float32Array)).toEqual(Array.from(ref.data as Float32Array));
  });
});
