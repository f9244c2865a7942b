// Classification metrics: a confusion matrix and what follows from it (accuracy, per-class
// accuracy), with plain-text tables for the terminal. Counting happens in JS on the predicted and
// true labels of each batch: for 10 classes that is far cheaper than one more native op.
import { ShapeError, ValueError, fmtShape } from '../errors';
import { noGrad } from '../autograd';
import { Tensor } from '../tensor';

export interface ClassAccuracy {
  name: string;
  correct: number;
  total: number;
  /** correct / total, or null for a class with no samples. */
  accuracy: number | null;
}

/** Counts of (true class, predicted class) pairs: rows are true classes, columns predictions. */
export class ConfusionMatrix {
  readonly counts: number[][];

  constructor(readonly numClasses: number) {
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new ValueError(`ConfusionMatrix: expected a positive number of classes but received ${numClasses}`);
    this.counts = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  }

  /** Adds one batch of labels. */
  update(predicted: ArrayLike<number | bigint>, target: ArrayLike<number | bigint>): void {
    if (predicted.length !== target.length) throw new ShapeError(`ConfusionMatrix: ${predicted.length} predictions but ${target.length} targets`);
    for (let i = 0; i < target.length; i++) {
      const t = Number(target[i]);
      const p = Number(predicted[i]);
      if (!(t >= 0 && t < this.numClasses) || !(p >= 0 && p < this.numClasses)) {
        throw new ValueError(`ConfusionMatrix: label ${t} or prediction ${p} is outside [0, ${this.numClasses})`);
      }
      this.counts[t][p]++;
    }
  }

  get total(): number {
    return this.counts.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0);
  }

  get correct(): number {
    return this.counts.reduce((s, row, i) => s + row[i], 0);
  }

  /** Fraction of samples on the diagonal (NaN when empty). */
  accuracy(): number {
    return this.correct / this.total;
  }

  perClass(classes: readonly string[] = defaultClassNames(this.numClasses)): ClassAccuracy[] {
    return this.counts.map((row, i) => {
      const total = row.reduce((a, b) => a + b, 0);
      return { name: classes[i] ?? String(i), correct: row[i], total, accuracy: total ? row[i] / total : null };
    });
  }

  /** Per-class accuracy, one class a line: "  Coat          84.20%  (842/1000)". */
  formatPerClass(classes?: readonly string[]): string {
    const rows = this.perClass(classes);
    const w = Math.max(...rows.map((r) => r.name.length));
    return rows.map((r) => `  ${r.name.padEnd(w)}  ${r.accuracy === null ? '     -' : pct(r.accuracy).padStart(7)}  (${r.correct}/${r.total})`).join('\n');
  }

  /** The matrix as a table with a header row of predicted-class indices and a key of names. */
  format(classes?: readonly string[]): string {
    const names = classes ?? defaultClassNames(this.numClasses);
    const cell = Math.max(4, ...this.counts.flat().map((c) => String(c).length)) + 1;
    const corner = 'true \\ predicted';
    const label = Math.max(corner.length, ...names.map((n, i) => `${i} ${n}`.length));
    const head = `${corner.padEnd(label)} ${this.counts.map((_, j) => String(j).padStart(cell)).join('')}`;
    const body = this.counts.map((row, i) => `${`${i} ${names[i] ?? i}`.padEnd(label)} ${row.map((c) => String(c).padStart(cell)).join('')}`);
    return [head, ...body].join('\n');
  }

  /** CSV with class names as row and column labels. */
  toCSV(classes?: readonly string[]): string {
    const names = classes ?? defaultClassNames(this.numClasses);
    const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const lines = [['true\\predicted', ...names].map(q).join(',')];
    this.counts.forEach((row, i) => lines.push([q(names[i] ?? String(i)), ...row.map(String)].join(',')));
    return lines.join('\n') + '\n';
  }
}

export function defaultClassNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => String(i));
}

/** 0.87134 -> "87.13%". */
export function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

/**
 * Predicted class of each row of `logits` (N, C) and the targets as plain numbers, or null when
 * this is not a classification batch (targets not integer class indices of shape (N)).
 */
export function classificationLabels(logits: Tensor, target: Tensor): { predicted: ArrayLike<number | bigint>; target: ArrayLike<number | bigint> } | null {
  if (logits.ndim !== 2 || target.ndim !== 1 || !isIndexDtype(target)) return null;
  if (target.shape[0] !== logits.shape[0]) throw new ShapeError(`metrics: logits ${fmtShape(logits.shape)} and target ${fmtShape(target.shape)} have different batch sizes`);
  // argmax in JS over one read of the logits: cheaper than an argmax op plus a read, per batch
  const [n, c] = logits.shape;
  const v = noGrad(() => logits.data) as ArrayLike<number>;
  const predicted = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (v[i * c + j] > v[i * c + best]) best = j;
    predicted[i] = best;
  }
  return { predicted, target: target.data as ArrayLike<number | bigint> };
}

function isIndexDtype(t: Tensor): boolean {
  return t.dtype === 'int64' || t.dtype === 'int32' || t.dtype === 'uint8';
}
