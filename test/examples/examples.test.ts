// Both examples at small scale: the FashionMNIST lesson program learns and saves a loadable
// model; the keypoint regressor ends far below the mean-position baseline.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tn from '../../lib';
import { main as fashionMain } from '../../examples/fashion-mnist';
import { main as keypointsMain, makeKeypoints } from '../../examples/keypoints';

test('fashion-mnist.ts: one short epoch learns, prints per-class accuracy, saves the model', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tensile-example-'));
  const out = path.join(dir, 'net.safetensors');
  const lines: string[] = [];
  const r = fashionMain({ epochs: 1, maxBatches: 300, out, log: (l) => lines.push(l) });
  expect(r.testAccuracy).toBeGreaterThan(0.55);
  expect(lines.some((l) => l.startsWith('Test Accuracy of  Ankle boot'))).toBe(true);
  expect(lines.filter((l) => l.startsWith('Test Accuracy of')).length).toBe(10);
  const saved = tn.load(out);
  expect(Object.keys(saved).sort()).toEqual(['conv1.bias', 'conv1.weight', 'conv2.bias', 'conv2.weight', 'fc1.bias', 'fc1.weight']);
  expect(saved['fc1.weight'].shape).toEqual([10, 500]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('keypoints.ts: synthetic targets are the sorted spot centres', () => {
  const { images, targets } = makeKeypoints(3, 2, new tn.Generator(5));
  expect(images.shape).toEqual([3, 1, 32, 32]);
  expect(targets.shape).toEqual([3, 4]);
  const t = targets.data as Float32Array;
  const img = images.data as Float32Array;
  for (let i = 0; i < 3; i++) {
    expect(t[i * 4]).toBeLessThanOrEqual(t[i * 4 + 2]); // sorted by x
    const x = Math.round(((t[i * 4] + 1) / 2) * 31);
    const y = Math.round(((t[i * 4 + 1] + 1) / 2) * 31);
    expect(img[i * 1024 + y * 32 + x]).toBeGreaterThan(0.5); // bright at the keypoint
  }
});

test.each(['mse', 'smoothl1'] as const)('keypoints.ts with %s: mean pixel error far below the mean-position baseline', (loss) => {
  const r = keypointsMain({ nTrain: 1500, nTest: 200, epochs: 5, loss, log: () => {} });
  expect(r.baseline).toBeGreaterThan(5);
  expect(r.error).toBeLessThan(0.4 * r.baseline);
});
