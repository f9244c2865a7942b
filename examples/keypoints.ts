// Regression of (x, y) locations: synthetic 32x32 images with K bright keypoints at random
// positions, a small CNN ending in Linear(..., 2K), trained with MSELoss (or SmoothL1Loss), and
// the mean pixel error on held-out images against the baseline of always predicting the mean
// position.
//
//   npm run example:keypoints                 (MSELoss)
//   LOSS=smoothl1 npm run example:keypoints
import * as tn from '../lib';
const { nn, optim, data } = tn;

const SIZE = 32;

/**
 * n images [n, 1, 32, 32] with k Gaussian spots each, and their targets [n, 2k]: the spots'
 * (x, y) scaled to [-1, 1], sorted by x so that the target is well defined.
 */
export function makeKeypoints(n: number, k: number, gen: tn.Generator): { images: tn.Tensor; targets: tn.Tensor } {
  const img = new Float32Array(n * SIZE * SIZE);
  const tgt = new Float32Array(n * 2 * k);
  for (let i = 0; i < n; i++) {
    const pts: [number, number][] = [];
    for (let j = 0; j < k; j++) pts.push([3 + gen.random() * (SIZE - 7), 3 + gen.random() * (SIZE - 7)]);
    pts.sort((a, b) => a[0] - b[0]);
    const base = i * SIZE * SIZE;
    for (const [px, py] of pts) {
      for (let y = 0; y < SIZE; y++) {
        for (let x = 0; x < SIZE; x++) {
          const d2 = (x - px) ** 2 + (y - py) ** 2;
          img[base + y * SIZE + x] = Math.max(img[base + y * SIZE + x], Math.exp(-d2 / (2 * 1.2 * 1.2)));
        }
      }
    }
    pts.forEach(([px, py], j) => {
      tgt[i * 2 * k + 2 * j] = (px / (SIZE - 1)) * 2 - 1;
      tgt[i * 2 * k + 2 * j + 1] = (py / (SIZE - 1)) * 2 - 1;
    });
  }
  return { images: tn.fromTypedArray(img, [n, 1, SIZE, SIZE]), targets: tn.fromTypedArray(tgt, [n, 2 * k]) };
}

/** Mean Euclidean distance in pixels between predicted and true keypoints. */
export function meanPixelError(pred: tn.Tensor, target: tn.Tensor): number {
  const p = pred.data as Float32Array;
  const t = target.data as Float32Array;
  let sum = 0;
  for (let i = 0; i < p.length; i += 2) {
    const dx = ((p[i] - t[i]) / 2) * (SIZE - 1);
    const dy = ((p[i + 1] - t[i + 1]) / 2) * (SIZE - 1);
    sum += Math.hypot(dx, dy);
  }
  return sum / (p.length / 2);
}

export interface KeypointOptions {
  k?: number;
  nTrain?: number;
  nTest?: number;
  epochs?: number;
  loss?: 'mse' | 'smoothl1';
  log?: (line: string) => void;
}

export function main(opts: KeypointOptions = {}): { error: number; baseline: number } {
  const k = opts.k ?? 2;
  const log = opts.log ?? console.log;
  tn.manualSeed(0);
  const gen = new tn.Generator(1);
  const train = makeKeypoints(opts.nTrain ?? 4000, k, gen);
  const test = makeKeypoints(opts.nTest ?? 500, k, gen);

  const model = new nn.Sequential(
    new nn.Conv2d(1, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(16, 32, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(32 * 8 * 8, 128), new nn.ReLU(), new nn.Linear(128, 2 * k),
  );
  const criterion = opts.loss === 'smoothl1' ? new nn.SmoothL1Loss({ beta: 0.05 }) : new nn.MSELoss();
  const optimizer = new optim.Adam(model.parameters(), { lr: 1e-3 });
  const loader = new data.DataLoader(new data.TensorDataset(train.images, train.targets), { batchSize: 32, shuffle: true });

  // the baseline: always predict the mean training position
  const meanPos = train.targets.mean(0, true);
  const baseline = meanPixelError(meanPos.expand(test.targets.shape).contiguous(), test.targets);

  const epochs = opts.epochs ?? 10;
  for (let epoch = 0; epoch < epochs; epoch++) {
    model.train();
    let running = 0;
    let batches = 0;
    for (const [x, y] of loader) {
      optimizer.zeroGrad();
      const loss = criterion.forward(model.forward(x), y);
      loss.backward();
      optimizer.step();
      running += loss.item();
      batches++;
    }
    model.eval();
    const err = tn.noGrad(() => meanPixelError(model.forward(test.images), test.targets));
    log(`epoch ${epoch + 1}: train loss ${(running / batches).toFixed(5)}, test mean error ${err.toFixed(2)} px (mean-position baseline ${baseline.toFixed(2)} px)`);
  }
  const error = tn.noGrad(() => meanPixelError(model.eval().forward(test.images), test.targets));
  log(`mean pixel error ${error.toFixed(2)} px vs ${baseline.toFixed(2)} px for always predicting the mean position`);
  return { error, baseline };
}

if (require.main === module) {
  main({ loss: process.env.LOSS === 'smoothl1' ? 'smoothl1' : 'mse', epochs: Number(process.env.EPOCHS ?? 10) });
}
