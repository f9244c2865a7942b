// worker.terminate() while the worker is inside native calls must not abort the process (see
// test/fixtures/terminate_native_worker.js). Run in a child so that an abort fails this test only.
import { runFixture } from '../helpers/fixture_child';

test('terminating workers that are busy in native calls leaves the process alive', () => {
  const r = runFixture('terminate_native_worker.js', ['60'], 110_000);
  expect(r.report).toMatch(/terminated 60 busy workers/);
  expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
}, 120_000);
