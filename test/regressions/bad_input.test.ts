// Issue #17, sections 4 and 5: factories and views that made silent garbage (INT_MIN from NaN,
// an empty arange, a -1 in a shape), in-place writes on leaves that require grad, and arguments
// that leaked internals ("Cannot read properties of undefined", "alloc: negative size"). Each
// raises a typed error naming the op and the argument; the valid neighbours still work.
import * as tn from '../../lib';
import { defaultCollate } from '../../lib/data/collate';

const { nn, optim, F } = tn;

describe('fill values that do not fit the dtype (PyTorch: "value cannot be converted to type int32 without overflow")', () => {
  test.each([
    ['NaN into int32', () => tn.full([2], NaN, { dtype: 'int32' }), /^full: value NaN cannot be converted to type int32 without overflow$/],
    ['Infinity into int32', () => tn.full([2], Infinity, { dtype: 'int32' }), /^full: value Infinity cannot .* int32/],
    ['2**40 into int32', () => tn.full([2], 2 ** 40, { dtype: 'int32' }), /^full: value 1099511627776 cannot .* int32/],
    ['-1 into uint8', () => tn.full([2], -1, { dtype: 'uint8' }), /^full: value -1 cannot .* uint8/],
    ['NaN into int64', () => tn.full([2], NaN, { dtype: 'int64' }), /^full: value NaN cannot .* int64/],
    ['1e300 into float32', () => tn.full([2], 1e300), /^full: value 1e\+300 cannot .* float32/],
    ['fill_ NaN into int32', () => tn.zeros([2], { dtype: 'int32' }).fill_(NaN), /^fill_: value NaN cannot .* int32/],
    ['ones_like-style full with a string', () => tn.full([2], 'a' as unknown as number), /^full: expected a number for 'value', got string$/],
    ['tensor() NaN into int64', () => tn.tensor([1, NaN], { dtype: 'int64' }), /^tensor: value NaN \(element 1\) cannot .* int64/],
    ['tensor() 300 into uint8', () => tn.tensor([300], { dtype: 'uint8' }), /^tensor: value 300 \(element 0\) cannot .* uint8/],
    ['a number operand: uint8 + 300', () => tn.tensor([1], { dtype: 'uint8' }).add(300), /^add: value 300 cannot .* uint8/],
    ['a number operand: int32 == 2**40', () => tn.tensor([1], { dtype: 'int32' }).eq(2 ** 40), /^eq: value 1099511627776 cannot .* int32/],
  ])('%s', (_, fn, message) => {
    expect(fn).toThrow(tn.ValueError);
    expect(fn).toThrow(message);
  });

  test('values that fit still work, as in PyTorch', () => {
    expect(tn.full([2], 3, { dtype: 'int32' }).toArray()).toEqual([3, 3]);
    expect(tn.full([2], -2.7, { dtype: 'int32' }).toArray()).toEqual([-2, -2]); // truncated
    expect(tn.full([2], 255, { dtype: 'uint8' }).toArray()).toEqual([255, 255]);
    expect(tn.full([1], -(2 ** 31), { dtype: 'int32' }).toArray()).toEqual([-(2 ** 31)]);
    expect(tn.full([2], 2, { dtype: 'bool' }).toArray()).toEqual([true, true]);
    expect(tn.full([1], NaN).toArray()).toEqual([NaN]);
    expect(tn.full([1], -Infinity).toArray()).toEqual([-Infinity]);
    expect(tn.zeros([2], { dtype: 'int32' }).fill_(7).toArray()).toEqual([7, 7]);
    expect(tn.tensor([0, 255], { dtype: 'uint8' }).toArray()).toEqual([0, 255]);
    expect(tn.tensor([1, 2], { dtype: 'int32' }).add(2 ** 30).toArray()).toEqual([2 ** 30 + 1, 2 ** 30 + 2]);
  });
});

describe('randint bounds', () => {
  test("an empty range (PyTorch: random_ expects 'from' to be less than 'to')", () => {
    const fn = (): unknown => tn.randint(5, 5, [3]);
    expect(fn).toThrow(tn.ValueError);
    expect(fn).toThrow("randint: random_ expects 'from' to be less than 'to', but got from=5 >= to=5");
  });
  test.each([
    [NaN, 10, /^randint: expected an integer for 'low', got NaN$/],
    [0, Infinity, /^randint: expected an integer for 'high', got Infinity$/],
    [0, 2.5, /^randint: expected an integer for 'high', got 2.5$/],
  ])('randint(%p, %p)', (low, high, message) => {
    expect(() => tn.randint(low, high, [3])).toThrow(tn.ValueError);
    expect(() => tn.randint(low, high, [3])).toThrow(message);
  });
  test('bounds past the dtype', () => {
    expect(() => tn.randint(0, 300, [3], { dtype: 'uint8' })).toThrow(/^randint: value 299 \(high - 1\) cannot be converted to type uint8 without overflow$/);
  });
  test('valid ranges draw inside them', () => {
    const v = tn.randint(0, 5, [200]);
    expect(v.dtype).toBe('int64');
    expect((v.toArray() as number[]).every((x) => x >= 0 && x < 5)).toBe(true);
    expect((tn.randint(-3, -2, [4]).toArray() as number[]).every((x) => x === -3)).toBe(true);
    expect((tn.randint(0, 256, [50], { dtype: 'uint8' }).toArray() as number[]).every((x) => x >= 0 && x < 256)).toBe(true);
  });
});

describe('arange arguments', () => {
  test.each([
    [[0, 10, -1], /^arange: upper bound and larger bound inconsistent with step sign \(start 0, end 10, step -1\)$/],
    [[10, 0, 1], /^arange: upper bound and larger bound inconsistent with step sign/],
    [[0, 10, 0], /^arange: step must be nonzero$/],
    [[NaN], /^arange: expected a finite number for 'end', got NaN$/],
    [[0, Infinity], /^arange: expected a finite number for 'end', got Infinity$/],
    [[0, 10, NaN], /^arange: expected a finite number for 'step', got NaN$/],
    [['3'], /^arange: expected a finite number for 'end', got string$/],
  ])('arange(%p)', (args, message) => {
    const fn = (): unknown => (tn.arange as (...a: unknown[]) => unknown)(...args);
    expect(fn).toThrow(tn.ValueError);
    expect(fn).toThrow(message);
  });
  test('valid calls, PyTorch semantics', () => {
    expect(tn.arange(10, 0, -1).toArray()).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(tn.arange(0, 0, -1).toArray()).toEqual([]);
    expect(tn.arange(3).toArray()).toEqual([0, 1, 2]);
    expect(tn.arange(0, 1, 0.25).toArray()).toEqual([0, 0.25, 0.5, 0.75]);
  });
});

describe('sizes in expand, view, reshape and the factories', () => {
  test('expand: -1 in a new leading dimension (PyTorch: not allowed in a leading, non-existing dimension)', () => {
    const fn = (): unknown => tn.zeros([1, 3]).expand([-1, -1, 3]);
    expect(fn).toThrow(tn.ShapeError);
    expect(fn).toThrow(/^expand: -1 is not allowed in a leading, non-existing dimension \(dimension 0 of target \[-1, -1, 3\], input \[1, 3\]\)$/);
  });
  test.each([[[-2, 3]], [[2, 1.5]], [[NaN, 3]]])('expand(%p)', (shape) => {
    expect(() => tn.zeros([1, 3]).expand(shape)).toThrow(tn.ShapeError);
    expect(() => tn.zeros([1, 3]).expand(shape)).toThrow(/^expand: invalid size .* sizes must be non-negative integers or -1$/);
  });
  test('valid expands', () => {
    expect(tn.zeros([1, 3]).expand([2, -1, 3]).shape).toEqual([2, 1, 3]);
    expect(tn.zeros([1, 3]).expand([4, -1]).shape).toEqual([4, 3]);
    expect(tn.zeros([1, 3]).expand([0, 3]).shape).toEqual([0, 3]);
    expect(tn.zeros([1, 3]).expand(2, 2, 3).shape).toEqual([2, 2, 3]);
  });
  test('view, reshape and factories refuse negative and fractional sizes', () => {
    expect(() => tn.zeros([6]).view([-2, -3])).toThrow(tn.ShapeError);
    expect(() => tn.zeros([6]).reshape([2.5, 2])).toThrow(/^reshape: shape \[2.5, 2\] is invalid/);
    expect(() => tn.zeros([-1, 2])).toThrow(/^zeros: invalid shape \[-1, 2\]: sizes must be non-negative integers$/);
    expect(() => tn.ones([1.5])).toThrow(/^ones: invalid shape/);
    expect(() => tn.rand([2, -3])).toThrow(/^rand: invalid shape/);
    expect(() => tn.randint(0, 2, [NaN])).toThrow(/^randint: invalid shape/);
    expect(tn.zeros([6]).view([-1, 3]).shape).toEqual([2, 3]);
  });
});

describe('in-place ops on a leaf that requires grad (PyTorch: "a leaf Variable that requires grad is being used in an in-place operation")', () => {
  const inplace: [string, (t: tn.Tensor) => unknown][] = [
    ['fill_', (t) => t.fill_(1)],
    ['zero_', (t) => t.zero_()],
    ['copy_', (t) => t.copy_(tn.ones([2]))],
    ['uniform_', (t) => t.uniform_()],
    ['normal_', (t) => t.normal_()],
  ];
  test.each(inplace)('%s', (name, fn) => {
    const w = tn.zeros([2], { requiresGrad: true });
    expect(() => fn(w)).toThrow(tn.AutogradError);
    expect(() => fn(w)).toThrow(new RegExp(`^${name}: a leaf tensor that requires grad \\(shape \\[2\\]\\) is being used in an in-place operation`));
    // inside noGrad it is allowed, as in torch.no_grad()
    expect(() => tn.noGrad(() => fn(w))).not.toThrow();
  });
  test('on a non-leaf of a graph', () => {
    const y = tn.zeros([2], { requiresGrad: true }).mul(2);
    expect(() => y.fill_(1)).toThrow(tn.AutogradError);
  });
  test('optimizers, nn.init and loadStateDict still update parameters in place', () => {
    const lin = new nn.Linear(2, 1);
    nn.init.constant_(lin.weight, 0.5);
    nn.init.kaimingUniform_(lin.weight);
    lin.loadStateDict({ weight: tn.full([1, 2], 0.5), bias: tn.zeros([1]) });
    const opt = new optim.SGD(lin.parameters(), { lr: 0.1, momentum: 0.9 });
    lin.forward(tn.ones([1, 2])).sum().backward();
    opt.step();
    opt.zeroGrad(false);
    expect(lin.weight.toArray()).toEqual([[0.4, 0.4].map((v) => Math.fround(v))]);
  });
});

describe('arguments of the wrong JS type name the op and the argument', () => {
  const x = (): tn.Tensor => tn.zeros([2, 3]);
  const bad = <T>(v: unknown): T => v as T;
  test.each([
    ['x.add(string)', () => x().add(bad('abc')), "add: expected a Tensor or a number for 'other', got string"],
    ['x.sub(null)', () => x().sub(bad(null)), "sub: expected a Tensor or a number for 'other', got null"],
    ['x.mul(object)', () => x().mul(bad({})), "mul: expected a Tensor or a number for 'other', got an object"],
    ['x.add(array, alpha)', () => x().add(bad([1]), 2), "add: expected a Tensor for 'other', got an array"],
    ['x.maximum(number)', () => x().maximum(bad(1)), "maximum: expected a Tensor for 'other', got 1"],
    ['x.lt(string)', () => x().lt(bad('1')), "lt: expected a Tensor or a number for 'other', got string"],
    ['x.matmul(undefined)', () => x().matmul(bad(undefined)), "matmul: expected a Tensor for 'other', got undefined"],
    ['x.copy_(array)', () => x().copy_(bad([0])), "copy_: expected a Tensor for 'src', got an array"],
    ['x.clamp(string)', () => x().clamp(bad('0')), "clamp: expected a number or null for 'min', got string"],
    ['where(cond, string, 0)', () => tn.where(tn.zeros([2], { dtype: 'bool' }), bad('a'), 0), "where: expected a Tensor or a number for 'input', got string"],
    ['cat([x, string])', () => tn.cat([x(), bad('a')]), "cat: expected a Tensor for 'tensors[1]', got string"],
    ['stack(null)', () => tn.stack(bad(null)), "stack: expected an array of tensors for 'tensors', got null"],
    ['zeros(null)', () => tn.zeros(bad(null)), "zeros: expected an array of sizes for 'shape', got null"],
    ['randn(number)', () => tn.randn(bad(3)), "randn: expected an array of sizes for 'shape', got 3"],
    ['ones([2], null)', () => tn.ones([2], bad(null)), "ones: expected an options object for 'options', got null"],
    ['zerosLike(string)', () => tn.zerosLike(bad('a')), "zerosLike: expected a Tensor for 'input', got string"],
    ['tensor([string])', () => tn.tensor(bad(['a'])), 'tensor: expected numbers or booleans, got string (element 0)'],
    ['fromTypedArray(array)', () => tn.fromTypedArray(bad([1, 2])), "fromTypedArray: expected a typed array for 'data', got an array"],
    ['manualSeed(string)', () => tn.manualSeed(bad('abc')), "manualSeed: expected a non-negative integer or a bigint for 'seed', got string 'abc'"],
    ['manualSeed(-1)', () => tn.manualSeed(-1), "manualSeed: expected a non-negative integer or a bigint for 'seed', got -1"],
    ['tidy(number)', () => tn.tidy(bad(5)), "tidy: expected a function for 'fn', got 5"],
    ['noGrad(undefined)', () => tn.noGrad(bad(undefined)), "noGrad: expected a function for 'fn', got undefined"],
    ['backward(string)', () => tn.zeros([1], { requiresGrad: true }).sum().backward(bad('g')), "backward: expected a Tensor or null for 'gradient', got string"],
    ['F.conv2d(undefined, w)', () => F.conv2d(bad(undefined), tn.zeros([1, 1, 3, 3])), "conv2d: expected a Tensor for 'input', got undefined"],
    ['F.conv2d(x, w, string)', () => F.conv2d(tn.zeros([1, 1, 4, 4]), tn.zeros([1, 1, 3, 3]), bad('b')), "conv2d: expected a Tensor or null for 'bias', got string"],
    ['F.linear(x, null)', () => F.linear(x(), bad(null)), "linear: expected a Tensor for 'weight', got null"],
    ['F.maxPool2d(string, 2)', () => F.maxPool2d(bad('a'), 2), "max_pool2d: expected a Tensor for 'input', got string"],
    ['F.maxPool2d(x, undefined)', () => F.maxPool2d(tn.zeros([1, 4, 4]), bad(undefined)), 'max_pool2d: kernel_size must be one or two positive integers, but got undefined'],
    ['F.relu(null)', () => F.relu(bad(null)), "relu: expected a Tensor for 'input', got null"],
    ['F.dropout(x, 0.2) (a positional p)', () => F.dropout(x(), bad(0.2)), "dropout: expected an options object for 'options', got 0.2"],
    ['F.batchNorm(x, string, ...)', () => F.batchNorm(tn.zeros([2, 3]), bad('m'), null), "batch_norm: expected a Tensor or null for 'running_mean', got string"],
    ['F.crossEntropy(x, string)', () => F.crossEntropy(x(), bad('t')), "cross_entropy: expected a Tensor for 'target', got string"],
    ['F.mseLoss(undefined, x)', () => F.mseLoss(bad(undefined), x()), "mse_loss: expected a Tensor for 'input', got undefined"],
    ['nn.Linear(null, 2)', () => new nn.Linear(bad(null), 2), "Linear: expected a non-negative integer for 'inFeatures', got null"],
    ['nn.Conv2d(1, 1, 0)', () => new nn.Conv2d(1, 1, 0), 'Conv2d: kernelSize must be a positive integer or a pair of them, but got 0'],
    ['BatchNorm2d.forward(undefined)', () => new nn.BatchNorm2d(1).forward(bad(undefined)), "BatchNorm2d: expected a Tensor for 'input', got undefined"],
    ['optim.SGD(null)', () => new optim.SGD(bad(null), { lr: 0.1 }), "SGD: expected an iterable of tensors or parameter groups for 'params', got null"],
    ['TensorDataset(undefined)', () => new tn.data.TensorDataset(bad(undefined)), "TensorDataset: expected a Tensor for 'tensors[0]', got undefined"],
  ])('%s', (_, fn, message) => {
    expect(fn).toThrow(tn.ValueError);
    expect(fn).toThrow(message);
  });
  test('the same calls with valid arguments work', () => {
    expect(x().add(1).add(tn.ones([3]), 2).toArray()).toEqual([
      [3, 3, 3],
      [3, 3, 3],
    ]);
    expect(tn.where(tn.tensor([true, false]), 1, 0).toArray()).toEqual([1, 0]);
    expect(tn.manualSeed(12345n)).toBe(tn.defaultGenerator);
    expect(tn.tidy(() => 5)).toBe(5);
    expect(F.dropout(tn.ones([4]), { p: 0 }).toArray()).toEqual([1, 1, 1, 1]);
    expect(new nn.Linear(0, 2).weight.shape).toEqual([2, 0]);
  });
});

describe('sizes that used to reach the allocator as "alloc: negative size -9223372036854775808"', () => {
  test('an unknown dtype', () => {
    const fn = (): unknown => tn.zeros([2], { dtype: 'half' as tn.DType });
    expect(fn).toThrow(tn.DTypeError);
    expect(fn).toThrow("zeros: unknown dtype 'half' (expected one of 'float32', 'float64', 'int32', 'int64', 'uint8', 'bool', 'bfloat16', 'float16')");
    expect(() => tn.empty([2], { dtype: 'toString' as tn.DType })).toThrow(/^empty: unknown dtype 'toString'/);
    expect(() => tn.randint(0, 2, [2], { dtype: 'long' as tn.DType })).toThrow(/^randint: unknown dtype 'long'/);
  });
  test('a shape whose size overflows', () => {
    const fn = (): unknown => tn.zeros([2 ** 31, 2 ** 31]);
    expect(fn).toThrow(tn.ValueError);
    expect(fn).toThrow('zeros: shape [2147483648, 2147483648] is too large: 4611686018427387904 elements, more than the limit of 2^48 (281474976710656)');
  });
  test("a convolution whose padding makes the output too large", () => {
    const conv = new nn.Conv2d(1, 1, 3, { padding: 1e9 });
    const fn = (): unknown => conv.forward(tn.zeros([1, 1, 4, 4]));
    expect(fn).toThrow(tn.ValueError);
    expect(fn).toThrow(/^conv2d: the output \[1, 1, 2000000002, 2000000002\] is too large: .* \(input \[1, 1, 4, 4\], weight \[1, 1, 3, 3\], padding \[1000000000, 1000000000\], stride \[1, 1\]\)$/);
    expect(() => F.conv2d(tn.zeros([1, 1, 4, 4]), tn.zeros([1, 1, 3, 3]), null, { padding: 2e9 })).toThrow(/^conv2d: the padded input \[4000000004, 4000000004\] is too large/);
    expect(() => F.adaptiveAvgPool2d(tn.zeros([1, 4, 4]), 1e9)).toThrow(/^adaptive_avg_pool2d: the output \[1, 1000000000, 1000000000\] is too large/);
    expect(new nn.Conv2d(1, 1, 3, { padding: 1 }).forward(tn.zeros([1, 1, 4, 4])).shape).toEqual([1, 1, 4, 4]);
  });
});

describe('a tensor used after dispose() names the op, the argument and its shape', () => {
  const disposed = (): tn.Tensor => {
    const t = tn.zeros([2, 3]);
    t.dispose();
    return t;
  };
  test('item', () => {
    const t = tn.zeros([1]);
    t.dispose();
    expect(() => t.item()).toThrow('item: a tensor of shape [1] was used after dispose()');
  });
  test.each([
    ['x.add(1)', () => disposed().add(1), "add: 'input' (a tensor of shape [2, 3]) was used after dispose()"],
    ['y.mul(x)', () => tn.ones([2, 3]).mul(disposed()), "mul: 'other' (a tensor of shape [2, 3]) was used after dispose()"],
    ['x.exp()', () => disposed().exp(), "exp: 'input' (a tensor of shape [2, 3]) was used after dispose()"],
    ['x.sum()', () => disposed().sum(), "sum: 'input' (a tensor of shape [2, 3]) was used after dispose()"],
    // views used to succeed, sharing memory that another tensor may already hold
    ['x.reshape(6)', () => disposed().reshape(6), "reshape: 'input' (a tensor of shape [2, 3]) was used after dispose()"],
    ['x.transpose(0, 1)', () => disposed().transpose(0, 1), "transpose: 'input' (a tensor of shape [2, 3]) was used after dispose()"],
    ['x.detach()', () => disposed().detach(), 'detach: a tensor of shape [2, 3] was used after dispose()'],
    ['x.toArray()', () => disposed().toArray(), 'toArray: a tensor of shape [2, 3] was used after dispose()'],
    ['x.fill_(1)', () => disposed().fill_(1), 'fill_: a tensor of shape [2, 3] was used after dispose()'],
    ['F.linear(x, w)', () => F.linear(disposed(), tn.zeros([4, 3])), "linear: 'input' (a tensor of shape [2, 3]) was used after dispose()"],
    ['cat([x])', () => tn.cat([disposed()]), "cat: 'tensors[0]' (a tensor of shape [2, 3]) was used after dispose()"],
  ])('%s', (_, fn, message) => {
    expect(fn).toThrow(tn.ValueError);
    expect(fn).toThrow(message);
  });
});

describe('collate of an undefined sample', () => {
  test('names the sample and says it is undefined', () => {
    const fn = (): unknown => defaultCollate([tn.zeros([2]), undefined]);
    expect(fn).toThrow(tn.ValueError);
    expect(fn).toThrow(/^defaultCollate: sample 1 of the batch is undefined;/);
    expect(() => defaultCollate([{ x: 1 }, { x: null }])).toThrow(/^defaultCollate: sample 1 of the batch is null;/);
  });
  test('other kinds are named with their article', () => {
    expect(() => defaultCollate([[1], new Date(0)])).toThrow('defaultCollate: sample 0 has an array where sample 1 has a Date');
    expect(defaultCollate([tn.zeros([2]), tn.ones([2])]).shape).toEqual([2, 2]);
  });
});

describe('non-tensor values in a state dict', () => {
  test('module.loadStateDict names the key and what was found', () => {
    const lin = new nn.Linear(2, 2);
    const fn = (): unknown => lin.loadStateDict({ weight: 3 as unknown as tn.Tensor, bias: tn.zeros([2]) });
    expect(fn).toThrow(tn.ValueError);
    expect(fn).toThrow("loadStateDict: expected a Tensor for key 'weight', found 3");
    const gone = tn.zeros([2]);
    gone.dispose();
    expect(() => lin.loadStateDict({ weight: tn.zeros([2, 2]), bias: gone })).toThrow("loadStateDict: expected a Tensor for key 'bias', found a disposed Tensor of shape [2]");
    expect(() => lin.loadStateDict(null as unknown as Record<string, tn.Tensor>)).toThrow("loadStateDict: expected an object of named tensors for 'stateDict', got null");
  });
  test('optimizer.loadStateDict names the state, the parameter and what was found', () => {
    const p = tn.zeros([2], { requiresGrad: true });
    const opt = new optim.SGD([p], { lr: 0.1, momentum: 0.9 });
    const sd = opt.stateDict();
    sd.state[0] = { momentum_buffer: 'x' as unknown as tn.Tensor };
    const fn = (): unknown => opt.loadStateDict(sd);
    expect(fn).toThrow(tn.ValueError);
    expect(fn).toThrow("SGD: loadStateDict: expected a Tensor for state 'momentum_buffer' of parameter 0 in group 0, found string");
    sd.state[0] = { step: 'abc' as unknown as number };
    expect(() => opt.loadStateDict(sd)).toThrow("SGD: loadStateDict: expected a number for state 'step' of parameter 0 in group 0, found string");
    // PyTorch saves momentum_buffer None without momentum: loaded as no buffer
    sd.state[0] = { momentum_buffer: null as unknown as tn.Tensor, step: 1 };
    opt.loadStateDict(sd);
    expect(opt.state.get(p)).toEqual({ step: 1 });
  });
});
