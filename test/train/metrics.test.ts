// Metrics, history files and the learning-curve chart, against values worked out by hand.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tn from '../../lib';
import { ConfusionMatrix, History, Progress, renderLearningCurves, formatBar } from '../../lib/train';
import { classificationLabels } from '../../lib/train/metrics';
import { niceScale } from '../../lib/train/chart_svg';
import { fmtDuration, fmtCount } from '../../lib/train/progress';
import type { EpochLog } from '../../lib/train';

describe('ConfusionMatrix', () => {
  // true:      0 0 0 1 1 2 2 2 2
  // predicted: 0 1 0 1 1 2 0 2 2
  const cm = () => {
    const m = new ConfusionMatrix(3);
    m.update([0, 1, 0, 1], [0, 0, 0, 1]);
    m.update(new BigInt64Array([1n, 2n, 0n, 2n, 2n]), [1, 2, 2, 2, 2]);
    return m;
  };

  test('counts, accuracy and per-class accuracy', () => {
    const m = cm();
    expect(m.counts).toEqual([
      [2, 1, 0],
      [0, 2, 0],
      [1, 0, 3],
    ]);
    expect(m.total).toBe(9);
    expect(m.correct).toBe(7);
    expect(m.accuracy()).toBeCloseTo(7 / 9, 12);
    expect(m.perClass(['cat', 'dog', 'eel'])).toEqual([
      { name: 'cat', correct: 2, total: 3, accuracy: 2 / 3 },
      { name: 'dog', correct: 2, total: 2, accuracy: 1 },
      { name: 'eel', correct: 3, total: 4, accuracy: 0.75 },
    ]);
    const empty = new ConfusionMatrix(2);
    empty.update([0], [0]);
    expect(empty.perClass()[1]).toEqual({ name: '1', correct: 0, total: 0, accuracy: null });
  });

  test('text tables name the classes, CSV quotes names with commas', () => {
    const m = cm();
    const per = m.formatPerClass(['cat', 'dog', 'eel']);
    expect(per.split('\n')).toEqual(['  cat   66.67%  (2/3)', '  dog  100.00%  (2/2)', '  eel   75.00%  (3/4)']);
    const table = m.format(['cat', 'dog', 'eel']).split('\n');
    expect(table).toHaveLength(4);
    expect(table[1]).toMatch(/^0 cat\s+2\s+1\s+0$/);
    expect(table[3]).toMatch(/^2 eel\s+1\s+0\s+3$/);
    // columns line up: every row has the same length
    expect(new Set(table.map((l) => l.length)).size).toBe(1);
    expect(m.toCSV(['T-shirt/top', 'a,b', 'c'])).toBe('true\\predicted,T-shirt/top,"a,b",c\nT-shirt/top,2,1,0\n"a,b",0,2,0\nc,1,0,3\n');
  });

  test('labels outside [0, C) are errors', () => {
    const m = new ConfusionMatrix(3);
    expect(() => m.update([0, 3], [0, 1])).toThrow(tn.ValueError);
    expect(() => m.update([0], [0, 1])).toThrow('ConfusionMatrix: 1 predictions but 2 targets');
    expect(() => new ConfusionMatrix(0)).toThrow('ConfusionMatrix: expected a positive number of classes but received 0');
  });

  test('classificationLabels takes the argmax of each row, and is null for regression', () => {
    const logits = tn.tensor([[0.1, 2, -1], [5, 0, 0], [0, 0, 3]], { dtype: 'float32' });
    const l = classificationLabels(logits, tn.tensor([1, 1, 2]))!;
    expect(Array.from(l.predicted, Number)).toEqual([1, 0, 2]);
    expect(Array.from(l.target, Number)).toEqual([1, 1, 2]);
    expect(classificationLabels(logits, tn.zeros([3, 3]))).toBeNull();
    expect(() => classificationLabels(logits, tn.tensor([1, 2]))).toThrow('metrics: logits [3, 3] and target [2] have different batch sizes');
  });
});

describe('History', () => {
  const log = (epoch: number, valAccuracy: number | null, valLoss: number | null): EpochLog => ({
    epoch, trainLoss: 1 / epoch, trainAccuracy: 0.5, valLoss, valAccuracy, lr: 0.01, seconds: 1.5, samplesPerSecond: 1000,
  });

  test('best by accuracy goes up, best by loss goes down', () => {
    const h = new History();
    expect(h.add(log(1, 0.5, 0.9), 'valAccuracy')).toBe(true);
    expect(h.add(log(2, 0.7, 0.8), 'valAccuracy')).toBe(true);
    expect(h.add(log(3, 0.6, 0.5), 'valAccuracy')).toBe(false);
    expect(h.best).toEqual({ epoch: 2, monitor: 'valAccuracy', value: 0.7 });
    const l = new History();
    l.add(log(1, null, 0.9), 'valLoss');
    expect(l.add(log(2, null, 1.0), 'valLoss')).toBe(false);
    expect(l.add(log(3, null, 0.4), 'valLoss')).toBe(true);
    expect(l.best!.epoch).toBe(3);
  });

  test('CSV has one row per epoch with empty cells for missing values; JSON round-trips', () => {
    const h = new History();
    h.add(log(1, 0.5, 0.9), 'valAccuracy');
    h.add(log(2, null, null), 'valAccuracy');
    expect(h.toCSV()).toBe(
      'epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,samples_per_second,rss_mb\n' +
        '1,1,0.5,0.9,0.5,0.01,1.5,1000,\n' +
        '2,0.5,0.5,,,0.01,1.5,1000,\n',
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tensile-hist-'));
    try {
      const files = h.write(dir);
      const back = History.fromJSON(JSON.parse(fs.readFileSync(files.json, 'utf8')));
      expect(back.epochs).toEqual(h.epochs);
      expect(back.best).toEqual(h.best);
      expect(fs.readFileSync(files.csv, 'utf8')).toBe(h.toCSV());
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('learning-curve SVG', () => {
  const epochs: EpochLog[] = [1, 2, 3, 4].map((e) => ({
    epoch: e, trainLoss: 1 / e, trainAccuracy: 0.5 + e / 10, valLoss: 1.2 / e, valAccuracy: 0.45 + e / 10, lr: 0.01, seconds: 1, samplesPerSecond: 100,
  }));

  test('two panels, a line per series through one point per epoch, well-formed', () => {
    const svg = renderLearningCurves(epochs, 'run <1>');
    expect(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('width="960"');
    expect(svg).toContain('>Loss</text>');
    expect(svg).toContain('>Accuracy</text>');
    expect(svg).toContain('run &lt;1&gt;'); // escaped
    const lines = svg.match(/<polyline [^>]*points="([^"]+)"/g)!;
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(l.match(/points="([^"]+)"/)![1].split(' ')).toHaveLength(4);
    expect(svg.match(/<circle /g)).toHaveLength(16);
    // every opened element is closed
    const opened = (svg.match(/<(svg|g|text|circle|title)[ >]/g) ?? []).length;
    const closed = (svg.match(/<\/(svg|g|text|circle|title)>/g) ?? []).length;
    expect(opened).toBe(closed);
    // train loss falls: its y coordinates (SVG y grows downward) increase
    const ys = lines[0].match(/points="([^"]+)"/)![1].split(' ').map((p) => Number(p.split(',')[1]));
    expect(ys).toEqual([...ys].sort((a, b) => a - b));
  });

  test('regression (no accuracy) gives one panel; no validation gives train lines only', () => {
    const reg = epochs.map((e) => ({ ...e, trainAccuracy: null, valAccuracy: null, valLoss: null }));
    const svg = renderLearningCurves(reg);
    expect(svg).toContain('width="480"');
    expect(svg).not.toContain('>Accuracy</text>');
    expect(svg.match(/<polyline /g)).toHaveLength(1);
    expect(svg).not.toContain('>validation</text>');
  });

  test('niceScale covers the data with round ticks', () => {
    expect(niceScale(0.23, 0.91)).toEqual({ min: 0.2, max: 1, step: 0.2, ticks: [0.2, 0.4, 0.6, 0.8, 1] });
    const s = niceScale(81.9, 87.2);
    expect(s.min).toBeLessThanOrEqual(81.9);
    expect(s.max).toBeGreaterThanOrEqual(87.2);
    expect(s.ticks.length).toBeGreaterThanOrEqual(4);
    expect(niceScale(5, 5).ticks.length).toBeGreaterThan(1);
  });
});

describe('progress formatting', () => {
  test('a terminal that reports 0 columns (a bare pty) gets the full line, not one cut short', () => {
    const out: string[] = [];
    const p = new Progress({ isTTY: true, columns: 0, write: (s: string) => out.push(s) }, 'auto');
    p.batch('epoch 1/2', { batch: 200, total: 200, samples: 4000, seconds: 1, runningLoss: 1.8955 });
    expect(out[0]).toMatch(/^\repoch 1\/2 \[=+\] 200\/200  4,000 samples\/s  loss 1\.8955  ETA 0:00\x1b\[K$/);
    p.line('summary');
    expect(out.slice(1)).toEqual(['\r\x1b[K', 'summary\n']);
    const quiet: string[] = [];
    new Progress({ isTTY: false, write: (s: string) => quiet.push(s) }).batch('e', { batch: 1, total: 2, samples: 1, seconds: 1, runningLoss: 1 });
    expect(quiet).toEqual([]);
  });

  test('the bar shows batch i/n, samples/s, running loss and ETA', () => {
    const s = formatBar('epoch 2/5', { batch: 1500, total: 3000, samples: 30000, seconds: 6, runningLoss: 0.48213 }, 120);
    expect(s).toMatch(/^epoch 2\/5 \[=+>\s+\] 1500\/3000  5,000 samples\/s  loss 0\.4821  ETA 0:06$/);
    expect(formatBar('e', { batch: 7, total: null, samples: 70, seconds: 2, runningLoss: 1 })).toBe('e 7  35 samples/s  loss 1.0000  0:02');
    // a narrow terminal drops the bar before anything else; every line fits its width
    expect(formatBar('epoch 2/5', { batch: 1500, total: 3000, samples: 30000, seconds: 6, runningLoss: 0.5 }, 66)).toBe('epoch 2/5 1500/3000  5,000 samples/s  loss 0.5000  ETA 0:06');
    for (const cols of [60, 80, 100, 200]) {
      expect(formatBar('epoch 2/5', { batch: 7, total: 3000, samples: 140, seconds: 0.1, runningLoss: 2.3 }, cols).length).toBeLessThan(Math.max(cols, 62));
    }
    expect(fmtDuration(3725)).toBe('1:02:05');
    expect(fmtCount(1234567)).toBe('1,234,567');
  });
});
