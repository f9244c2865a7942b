// Learning curves as a standalone SVG file that any browser opens: loss per epoch (train and
// validation) and, for classification, accuracy per epoch. Written by hand, with no charting
// dependency: a few axes, polylines and labels are all it needs.
import { EpochLog } from './history';

interface Series {
  name: string;
  color: string;
  dash: string;
  points: [number, number][];
}

const PANEL_W = 480;
const PANEL_H = 340;
const M = { left: 62, right: 20, top: 40, bottom: 48 };
const TRAIN = '#1f77b4';
const VAL = '#d62728';

/** The SVG document for these epochs (an empty history gives panels with no lines). */
export function renderLearningCurves(epochs: readonly EpochLog[], title = 'Learning curves'): string {
  const pick = (key: keyof EpochLog, scale = 1): [number, number][] =>
    epochs.filter((e) => typeof e[key] === 'number' && Number.isFinite(e[key] as number)).map((e) => [e.epoch, (e[key] as number) * scale]);
  const panels: { title: string; yLabel: string; series: Series[] }[] = [
    {
      title: 'Loss',
      yLabel: 'loss',
      series: [
        { name: 'train', color: TRAIN, dash: '', points: pick('trainLoss') },
        { name: 'validation', color: VAL, dash: '6 4', points: pick('valLoss') },
      ],
    },
  ];
  const trainAcc = pick('trainAccuracy', 100);
  const valAcc = pick('valAccuracy', 100);
  if (trainAcc.length || valAcc.length) {
    panels.push({
      title: 'Accuracy',
      yLabel: 'accuracy (%)',
      series: [
        { name: 'train', color: TRAIN, dash: '', points: trainAcc },
        { name: 'validation', color: VAL, dash: '6 4', points: valAcc },
      ],
    });
  }
  const width = PANEL_W * panels.length;
  const height = PANEL_H + 30;
  const body = panels.map((p, i) => panel(p.title, p.yLabel, p.series, i * PANEL_W, 30)).join('\n');
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    body,
    `</svg>`,
    '',
  ].join('\n');
}

function panel(title: string, yLabel: string, series: Series[], x0: number, y0: number): string {
  const pw = PANEL_W - M.left - M.right;
  const ph = PANEL_H - M.top - M.bottom;
  const all = series.flatMap((s) => s.points);
  const maxEpoch = all.length ? Math.max(...all.map((p) => p[0])) : 1;
  const xMin = 1;
  const xMax = Math.max(2, maxEpoch);
  const xTicks = integerTicks(xMin, xMax);
  const ys = all.map((p) => p[1]);
  const y = niceScale(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1);
  const sx = (v: number) => x0 + M.left + ((v - xMin) / (xMax - xMin)) * pw;
  const sy = (v: number) => y0 + M.top + ph - ((v - y.min) / (y.max - y.min)) * ph;
  const out: string[] = [`<g>`];
  out.push(`<text x="${f(x0 + M.left)}" y="${f(y0 + M.top - 14)}" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
  // grid and y ticks
  for (const t of y.ticks) {
    out.push(`<line x1="${f(sx(xMin))}" x2="${f(sx(xMax))}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${f(sx(xMin) - 6)}" y="${f(sy(t) + 4)}" text-anchor="end" fill="#444">${fmtTick(t, y.step)}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${f(sy(y.min))}" y2="${f(sy(y.min) + 5)}" stroke="#444"/>`);
    out.push(`<text x="${f(sx(t))}" y="${f(sy(y.min) + 18)}" text-anchor="middle" fill="#444">${t}</text>`);
  }
  // axes
  out.push(`<line x1="${f(sx(xMin))}" x2="${f(sx(xMax))}" y1="${f(sy(y.min))}" y2="${f(sy(y.min))}" stroke="#444"/>`);
  out.push(`<line x1="${f(sx(xMin))}" x2="${f(sx(xMin))}" y1="${f(sy(y.min))}" y2="${f(sy(y.max))}" stroke="#444"/>`);
  out.push(`<text x="${f(x0 + M.left + pw / 2)}" y="${f(y0 + PANEL_H - 10)}" text-anchor="middle">epoch</text>`);
  const my = y0 + M.top + ph / 2;
  out.push(`<text x="${f(x0 + 16)}" y="${f(my)}" text-anchor="middle" transform="rotate(-90 ${f(x0 + 16)} ${f(my)})">${escapeXml(yLabel)}</text>`);
  // the curves: a line through the points and a dot on each (one epoch is a dot alone)
  for (const s of series) {
    if (!s.points.length) continue;
    const pts = s.points.map(([a, b]) => `${f(sx(a))},${f(sy(b))}`).join(' ');
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${pts}"/>`);
    for (const [a, b] of s.points) out.push(`<circle cx="${f(sx(a))}" cy="${f(sy(b))}" r="3" fill="${s.color}"><title>${escapeXml(`${s.name}, epoch ${a}: ${fmtTick(b, y.step / 100)}`)}</title></circle>`);
  }
  // legend: one row in the top margin, right-aligned, so that it never covers a curve
  const shown = series.filter((s) => s.points.length);
  let lx = x0 + PANEL_W - M.right;
  const ly = y0 + M.top - 14;
  for (const s of [...shown].reverse()) {
    lx -= s.name.length * 6.5 + 30; // ~6.5 px per character at font-size 12
    out.push(`<line x1="${f(lx)}" x2="${f(lx + 20)}" y1="${f(ly - 4)}" y2="${f(ly - 4)}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    out.push(`<text x="${f(lx + 24)}" y="${f(ly)}">${escapeXml(s.name)}</text>`);
    lx -= 8;
  }
  out.push(`</g>`);
  return out.join('\n');
}

/** A y range that starts and ends on round numbers, with 4-8 ticks between. */
export function niceScale(lo: number, hi: number): { min: number; max: number; step: number; ticks: number[] } {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const min = Math.floor(lo / step) * step;
  const max = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let t = min; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return { min, max, step, ticks };
}

function integerTicks(lo: number, hi: number): number[] {
  const span = hi - lo;
  const step = span <= 10 ? 1 : [2, 5, 10, 20, 25, 50, 100, 200, 500, 1000].find((s) => span / s <= 10) ?? Math.ceil(span / 10);
  const ticks: number[] = [];
  for (let t = lo; t <= hi; t += step) ticks.push(t);
  return ticks;
}

function fmtTick(v: number, step: number): string {
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step)) + (step / 10 ** Math.floor(Math.log10(step)) === 2.5 ? 1 : 0)));
  return v.toFixed(decimals);
}

function f(v: number): string {
  return Number.isFinite(v) ? String(Math.round(v * 10) / 10) : '0';
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}
