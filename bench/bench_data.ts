// The data both sides of a benchmark read: written once, shared by bench/run.ts and bench/gpu.ts.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { encodeIdx } from '../lib/data/idx';
import { loadBundledFashionMNIST } from '../lib/data/fashion_mnist_bundled';

/** The train split as IDX files in a temp folder: tensile's bundled FashionMNIST, which equals
 * BASELINE.md's files byte for byte; both sides read these same files. */
export function prepareData(): string {
  const dir = path.join(os.tmpdir(), 'tensile-bench-fmnist');
  const files = { images: path.join(dir, 'train-images-idx3-ubyte'), labels: path.join(dir, 'train-labels-idx1-ubyte') };
  if (fs.existsSync(files.images) && fs.statSync(files.images).size === 47_040_016 && fs.existsSync(files.labels)) return dir;
  fs.mkdirSync(dir, { recursive: true });
  const { images, labels } = loadBundledFashionMNIST(true);
  const n = labels.length;
  fs.writeFileSync(files.labels, encodeIdx('uint8', [n], labels));
  fs.writeFileSync(files.images, encodeIdx('uint8', [n, 28, 28], images));
  return dir;
}

