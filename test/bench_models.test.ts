// bench/resnet.ts, the nets of `npm run bench`'s 'resnet' rows (issue #15): the parameter counts
// PyTorch gives the same nets (bench/torch_bench.py's CifarResNet), the shapes through each stage,
// where the 1×1 stride-2 shortcuts are, PyTorch's default init, and one training step.
import * as tn from '../lib';
import { BasicBlock, CifarResNet, countParams, resnet18Cifar, resnet20 } from '../bench/resnet';

const shapesThrough = (m: CifarResNet, x: tn.Tensor): number[][] =>
  tn.noGrad(() => {
    const shapes: number[][] = [];
    let h = tn.F.relu(m.bn1.forward(m.conv1.forward(x)));
    for (const b of m.layers.children()) {
      h = b.forward(h);
      shapes.push(h.shape);
    }
    return shapes;
  });

describe('bench ResNets', () => {
  beforeAll(() => tn.manualSeed(0));

  test('ResNet-20: 272,474 parameters, 16/32/64 channels over 3 blocks each, logits [N, 10]', () => {
    const m = resnet20();
    expect(countParams(m)).toBe(272_474);
    const x = tn.randn([2, 3, 32, 32]);
    const shapes = shapesThrough(m, x);
    expect(shapes).toEqual([...Array(3).fill([2, 16, 32, 32]), ...Array(3).fill([2, 32, 16, 16]), ...Array(3).fill([2, 64, 8, 8])]);
    const blocks = m.layers.children() as BasicBlock[];
    expect(blocks.map((b) => b.downsample !== null)).toEqual([false, false, false, true, false, false, true, false, false]);
    expect(tn.noGrad(() => m.forward(x)).shape).toEqual([2, 10]);
  });

  test('ResNet-18 (CIFAR stem): 11,173,962 parameters, 64..512 channels over 2 blocks each, logits [N, 10]', () => {
    const m = resnet18Cifar();
    expect(countParams(m)).toBe(11_173_962);
    const x = tn.randn([1, 3, 32, 32]);
    expect(shapesThrough(m, x)).toEqual([[1, 64, 32, 32], [1, 64, 32, 32], [1, 128, 16, 16], [1, 128, 16, 16], [1, 256, 8, 8], [1, 256, 8, 8], [1, 512, 4, 4], [1, 512, 4, 4]]);
    const blocks = m.layers.children() as BasicBlock[];
    expect(blocks.map((b) => b.downsample !== null)).toEqual([false, false, true, false, true, false, true, false]);
    const ds = blocks[2].downsample!.children()[0] as tn.nn.Conv2d;
    expect([ds.kernelSize, ds.stride, ds.bias]).toEqual([[1, 1], 2, null]);
  });

  test("PyTorch's default init: convolutions without bias in ±1/√fan_in, BN weight 1 and bias 0", () => {
    const m = resnet20();
    for (const mod of m.modules()) {
      if (mod instanceof tn.nn.Conv2d) {
        expect(mod.bias).toBeNull();
        const fanIn = mod.weight.shape[1] * mod.kernelSize[0] * mod.kernelSize[1];
        expect(mod.weight.abs().max().item()).toBeLessThanOrEqual(1 / Math.sqrt(fanIn));
      } else if (mod instanceof tn.nn.BatchNorm2d) {
        expect((mod.weight!.toArray() as number[]).every((v) => v === 1)).toBe(true);
        expect((mod.bias!.toArray() as number[]).every((v) => v === 0)).toBe(true);
      }
    }
  });

  test('a training step gives every parameter a gradient and updates the BN running stats', () => {
    const m = resnet20();
    const opt = new tn.optim.SGD(m.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
    const loss = new tn.nn.CrossEntropyLoss().forward(m.forward(tn.randn([4, 3, 32, 32])), tn.randint(0, 10, [4]));
    loss.backward();
    expect(m.parameters().every((p) => p.grad !== null && p.grad.shape.join() === p.shape.join())).toBe(true);
    opt.step();
    expect(Number.isFinite(loss.item())).toBe(true);
    expect(m.bn1.runningMean!.abs().sum().item()).toBeGreaterThan(0);
  });
});
