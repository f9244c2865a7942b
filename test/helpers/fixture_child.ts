// Runs a script of test/fixtures in a child Node process with tensile's compiled dist/ as its first
// argument: for programs that, broken, would abort or hang the process running them, so that such a
// failure fails one test instead of killing Jest.
import { spawnSync } from 'child_process';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  /** exit status, stdout and the end of stderr, for matching and for the failure's message */
  report: string;
}

export function runFixture(script: string, args: string[], timeoutMs: number): ChildResult {
  const r = spawnSync(process.execPath, [path.join(root, 'test', 'fixtures', script), path.join(root, 'dist'), ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    // under `npm run test:asan` each refused allocation prints a sanitizer warning
    maxBuffer: 256 * 1024 * 1024,
  });
  return { status: r.status, signal: r.signal, report: `exit ${r.status} signal ${r.signal}\n${r.stdout}\n${r.stderr.slice(-4000)}` };
}
