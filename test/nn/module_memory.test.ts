// A forward written op by op (a Module subclass, as the seed lesson writes its net) leaves every
// intermediate to the garbage collector: nothing disposes them. lib/tensor.ts runs a young-
// generation collection every few MiB of such garbage, so the blocks the next ops get back from
// the native cache are recent (in cache) and the footprint stays small. Left to V8's external-
// memory pressure alone (TENSILE_SCAVENGE_MB=0), this loop peaked at 22-28 MiB allocated and
// 24-30 MiB reserved; with a collection every 6 MiB, at 10 and 11. The loop runs in a fresh process
// (test/fixtures/lesson_memory.js): in Jest's, the heap that earlier test files left decides when
// V8 collects, and the figures vary with the order of the files.
import { runFixture } from '../helpers/fixture_child';

test("the lesson's Module subclass trains with a small, flat native footprint and no dispose calls", () => {
  const r = runFixture('lesson_memory.js', [], 120_000);
  expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
  const { peak, reservedAt } = JSON.parse(r.report.split('\n').find((l) => l.startsWith('{'))!) as { peak: number; reservedAt: number[] };
  expect(peak).toBeLessThan(14 * 2 ** 20);
  // flat: the second half reserves (almost) nothing new
  expect(reservedAt[1] - reservedAt[0]).toBeLessThanOrEqual(2 * 2 ** 20);
}, 130_000);
