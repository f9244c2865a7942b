// worker.terminate() while the worker is inside native calls must not abort the process (see
// test/fixtures/terminate_native_worker.js). Run in a child so that an abort fails this test only.
import { spawnSync } from 'child_process';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');

test('terminating workers that are busy in native calls leaves the process alive', () => {
  const r = spawnSync(process.execPath, [path.join(root, 'test', 'fixtures', 'terminate_native_worker.js'), path.join(root, 'dist'), '60'], {
    encoding: 'utf8',
    timeout: 110_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  expect(`${r.stdout}${r.stderr.slice(-2000)}`).toMatch(/terminated 60 busy workers/);
  expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
}, 120_000);
