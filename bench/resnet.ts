// The ResNets of `npm run bench`'s 'resnet' rows (issue #15), built from tn.nn modules as a user
// writes them; bench/torch_bench.py builds the same nets from torch.nn. Both are the CIFAR variants:
// 3×32×32 input, a 3×3 stride-1 stem without max pool, basic blocks (two 3×3 convolutions, padding 1,
// no bias, each followed by BatchNorm2d; a 1×1 stride-2 convolution + BatchNorm2d on the shortcut
// where the shape changes), global average pooling and one Linear. Initialisation is each
// module's default, PyTorch's (nn/init.ts: kaiming-uniform a=√5 for conv and linear weights, BN
// weight 1 and bias 0).
//   resnet20():      16/32/64 channels, 3 blocks per stage, 272,474 parameters (He et al. 2016, §4.2)
//   resnet18Cifar(): 64/128/256/512 channels, 2 blocks per stage, 11,173,962 parameters
import * as tn from '../lib';
const { nn, F } = tn;

/** relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), the shortcut being x itself or downsample(x). */
export class BasicBlock extends nn.Module {
  conv1: tn.nn.Conv2d;
  bn1: tn.nn.BatchNorm2d;
  conv2: tn.nn.Conv2d;
  bn2: tn.nn.BatchNorm2d;
  downsample: tn.nn.Sequential | null;

  constructor(inPlanes: number, planes: number, stride = 1) {
    super();
    this.conv1 = new nn.Conv2d(inPlanes, planes, 3, { stride, padding: 1, bias: false });
    this.bn1 = new nn.BatchNorm2d(planes);
    this.conv2 = new nn.Conv2d(planes, planes, 3, { stride: 1, padding: 1, bias: false });
    this.bn2 = new nn.BatchNorm2d(planes);
    this.downsample =
      stride !== 1 || inPlanes !== planes
        ? new nn.Sequential(new nn.Conv2d(inPlanes, planes, 1, { stride, bias: false }), new nn.BatchNorm2d(planes))
        : null;
  }

  forward(x: tn.Tensor): tn.Tensor {
    const out = F.relu(this.bn1.forward(this.conv1.forward(x)));
    const y = this.bn2.forward(this.conv2.forward(out));
    return F.relu(y.add(this.downsample ? this.downsample.forward(x) : x));
  }
}

/** A CIFAR ResNet: stem conv3x3(3→widths[0]) + BN + ReLU, one stage of `blocks` BasicBlocks per
 * width (stride 2 at the start of every stage but the first), AdaptiveAvgPool2d(1), Linear. */
export class CifarResNet extends nn.Module {
  conv1: tn.nn.Conv2d;
  bn1: tn.nn.BatchNorm2d;
  layers: tn.nn.Sequential;
  avgpool: tn.nn.AdaptiveAvgPool2d;
  fc: tn.nn.Linear;

  constructor(widths: number[], blocks: number, numClasses = 10) {
    super();
    this.conv1 = new nn.Conv2d(3, widths[0], 3, { stride: 1, padding: 1, bias: false });
    this.bn1 = new nn.BatchNorm2d(widths[0]);
    const stages: tn.nn.Module[] = [];
    let inPlanes = widths[0];
    widths.forEach((w, i) => {
      for (let b = 0; b < blocks; b++) {
        stages.push(new BasicBlock(inPlanes, w, b === 0 && i > 0 ? 2 : 1));
        inPlanes = w;
      }
    });
    this.layers = new nn.Sequential(...stages);
    this.avgpool = new nn.AdaptiveAvgPool2d(1);
    this.fc = new nn.Linear(inPlanes, numClasses);
  }

  forward(x: tn.Tensor): tn.Tensor {
    x = F.relu(this.bn1.forward(this.conv1.forward(x)));
    x = this.avgpool.forward(this.layers.forward(x));
    return this.fc.forward(x.view(x.shape[0], -1));
  }
}

export const resnet20 = (numClasses = 10): CifarResNet => new CifarResNet([16, 32, 64], 3, numClasses);
export const resnet18Cifar = (numClasses = 10): CifarResNet => new CifarResNet([64, 128, 256, 512], 2, numClasses);

/** The bench's models by name, with their batch size. */
export const RESNETS = {
  resnet20: { make: resnet20, batch: 128, params: 272_474 },
  resnet18: { make: resnet18Cifar, batch: 32, params: 11_173_962 },
} as const;
export type ResNetName = keyof typeof RESNETS;

export function countParams(m: tn.nn.Module): number {
  return m.parameters().reduce((s, p) => s + p.numel(), 0);
}
