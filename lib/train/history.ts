// The record of a training run: one entry per epoch (train and validation loss and accuracy, lr,
// time), the best epoch, and the final test evaluation. Written as history.json (everything) and
// history.csv (the per-epoch table, for a spreadsheet or pandas.read_csv).
import * as path from 'path';
import { writeFileAtomic } from '../io/atomic';
import { ClassAccuracy } from './metrics';

export interface EpochLog {
  /** 1-based. */
  epoch: number;
  trainLoss: number;
  /** null when the task is not classification. */
  trainAccuracy: number | null;
  valLoss: number | null;
  valAccuracy: number | null;
  /** The first parameter group's lr during this epoch. */
  lr: number | null;
  seconds: number;
  samplesPerSecond: number;
  /** Resident set size at the end of the epoch, MiB. */
  rssMB?: number;
}

export interface TestLog {
  loss: number | null;
  accuracy: number | null;
  correct: number | null;
  total: number;
  perClass: ClassAccuracy[] | null;
  /** Rows are true classes, columns predictions. */
  confusionMatrix: number[][] | null;
}

export interface BestLog {
  epoch: number;
  /** What "best" is judged on: 'valAccuracy', 'valLoss' or 'trainLoss'. */
  monitor: string;
  value: number;
}

export class History {
  epochs: EpochLog[] = [];
  best: BestLog | null = null;
  test: TestLog | null = null;
  classes: string[] | null = null;

  /** Records an epoch; returns true when it is the best so far by `monitor`. */
  add(log: EpochLog, monitor: string): boolean {
    this.epochs.push(log);
    const value = (log as unknown as Record<string, number | null>)[monitor];
    if (value === null || value === undefined || Number.isNaN(value)) return false;
    const higherIsBetter = /accuracy/i.test(monitor);
    const better = !this.best || this.best.monitor !== monitor || (higherIsBetter ? value > this.best.value : value < this.best.value);
    if (better) this.best = { epoch: log.epoch, monitor, value };
    return better;
  }

  toJSON(): { classes: string[] | null; epochs: EpochLog[]; best: BestLog | null; test: TestLog | null } {
    return { classes: this.classes, epochs: this.epochs, best: this.best, test: this.test };
  }

  static fromJSON(j: ReturnType<History['toJSON']>): History {
    const h = new History();
    h.classes = j.classes ?? null;
    h.epochs = j.epochs ?? [];
    h.best = j.best ?? null;
    h.test = j.test ?? null;
    return h;
  }

  toCSV(): string {
    const cols: [string, keyof EpochLog][] = [
      ['epoch', 'epoch'],
      ['train_loss', 'trainLoss'],
      ['train_accuracy', 'trainAccuracy'],
      ['val_loss', 'valLoss'],
      ['val_accuracy', 'valAccuracy'],
      ['lr', 'lr'],
      ['seconds', 'seconds'],
      ['samples_per_second', 'samplesPerSecond'],
      ['rss_mb', 'rssMB'],
    ];
    const cell = (v: number | null | undefined): string => (v === null || v === undefined ? '' : String(v));
    const lines = [cols.map(([h]) => h).join(',')];
    for (const e of this.epochs) lines.push(cols.map(([, k]) => cell(e[k])).join(','));
    return lines.join('\n') + '\n';
  }

  /** Writes history.json and history.csv into `dir` (atomically); returns their paths. */
  write(dir: string): { json: string; csv: string } {
    const json = path.join(dir, 'history.json');
    const csv = path.join(dir, 'history.csv');
    writeFileAtomic(json, [JSON.stringify(this.toJSON(), null, 2) + '\n']);
    writeFileAtomic(csv, [this.toCSV()]);
    return { json, csv };
  }
}
