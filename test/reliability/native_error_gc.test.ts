// A native error caught in a loop that leaves garbage must never kill the process. Until the addon
// stopped throwing through Node-API (native/binding/util.h, call_guarded), a garbage collection
// during Node-API's rethrow ran the storages' finalizers with the exception still pending, and Node
// aborted: test/fixtures/native_error_loop.js at 60,000 iterations a kind died with SIGTRAP in 6 of
// 6 runs of the build before the fix. The loop runs in a child process so that an abort fails this
// test instead of killing Jest.
import { runFixture } from '../helpers/fixture_child';

test('native errors of every kind, caught in a tight loop with garbage, leave the process alive', () => {
  const r = runFixture('native_error_loop.js', ['60000'], 110_000);
  expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
  for (const kind of ['label', 'index', 'oom', 'disposed', 'range']) expect(r.report).toMatch(new RegExp(`${kind}: 60000 of 60000 caught`));
}, 120_000);
