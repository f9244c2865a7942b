// What a person sees while training: on a terminal, one progress bar per epoch redrawn in place
// (batch i/n, samples/s, running loss, ETA), replaced by the epoch's summary line when it ends;
// elsewhere (a log file, CI) only the summary line, once per epoch.

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

export interface BatchStatus {
  /** Batches done in this epoch (1-based count). */
  batch: number;
  /** Batches in the epoch, when the loader knows. */
  total: number | null;
  samples: number;
  seconds: number;
  runningLoss: number;
}

/** Redraws at most this often, so that a fast loop is not slowed by terminal output. */
const REDRAW_MS = 100;

export class Progress {
  private readonly bar: boolean;
  private readonly quiet: boolean;
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly out: ProgressStream,
    mode: ProgressMode = 'auto',
  ) {
    this.quiet = mode === 'none';
    this.bar = mode === 'bar' || (mode === 'auto' && out.isTTY === true);
  }

  /** Called after every batch; draws the bar when one is shown and enough time has passed. */
  batch(label: string, s: BatchStatus): void {
    if (!this.bar || this.quiet) return;
    const now = Date.now();
    if (now - this.lastDraw < REDRAW_MS && s.batch !== s.total) return;
    this.lastDraw = now;
    const columns = this.columns();
    const line = formatBar(label, s, columns);
    this.out.write(`\r${line.length >= columns ? line.slice(0, columns - 1) : line}\x1b[K`);
    this.drawn = true;
  }

  /** A line that stays (the epoch summary, the final report): replaces the bar if one is drawn. */
  line(text: string): void {
    if (this.quiet) return;
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
    this.out.write(text + '\n');
  }

  /** The terminal's width; a pseudo-terminal may report 0, which means unknown. */
  private columns(): number {
    const c = this.out.columns;
    return typeof c === 'number' && c > 0 ? c : 80;
  }
}

/** "epoch 2/5 [=========>          ] 1234/3000  5,210 samples/s  loss 0.4821  ETA 0:07". */
export function formatBar(label: string, s: BatchStatus, columns = 100): string {
  const rate = s.seconds > 0 ? s.samples / s.seconds : 0;
  const tail = `  ${fmtCount(Math.round(rate))} samples/s  loss ${fmtLoss(s.runningLoss)}`;
  if (s.total === null) return `${label} ${s.batch}${tail}  ${fmtDuration(s.seconds)}`;
  const count = `${String(s.batch).padStart(String(s.total).length)}/${s.total}`;
  const eta = s.batch > 0 ? (s.seconds / s.batch) * (s.total - s.batch) : 0;
  const etaText = `  ETA ${fmtDuration(eta)}`;
  // the bar takes what the line leaves (at most 30), and goes when under 8 columns are left
  const width = Math.min(30, columns - 1 - (label.length + count.length + tail.length + etaText.length + 4));
  if (width < 8) return `${label} ${count}${tail}${etaText}`;
  const filled = Math.min(width, Math.floor((s.batch / Math.max(1, s.total)) * width));
  const bar = '='.repeat(filled) + (filled < width ? '>' : '') + ' '.repeat(Math.max(0, width - filled - 1));
  return `${label} [${bar}] ${count}${tail}${etaText}`;
}

/** 5210 -> "5,210". */
export function fmtCount(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Seconds as m:ss, or h:mm:ss past an hour. */
export function fmtDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function fmtLoss(x: number | null | undefined): string {
  if (x === null || x === undefined) return '-';
  return Number.isFinite(x) ? x.toFixed(4) : String(x);
}
