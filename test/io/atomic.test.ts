// Atomic writes: a write that fails part-way leaves no partial file and no temporary file, and
// an existing file keeps its old contents; a write that succeeds replaces the file whole. A writer
// killed mid-write leaves its temporary file, which the next write to that target removes once
// its writer is dead, and never while it is alive.
// The real module object (not an import-star copy), so that jest.spyOn can replace its functions.
import fs = require('fs');
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';
import * as tn from '../../lib';
import { save, load, serialize, writeFileAtomic } from '../../lib/io';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tensile-atomic-'));
});
afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

const big = (): Record<string, tn.Tensor> => ({ a: tn.randn([64, 64]), b: tn.randn([1000]) });

// Fails the n-th call to fs.writeSync (1-based) the way a full disk does.
function failNthWrite(n: number): jest.SpyInstance {
  const real = fs.writeSync;
  let calls = 0;
  return jest.spyOn(fs, 'writeSync').mockImplementation(((...args: Parameters<typeof fs.writeSync>) => {
    if (++calls === n) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    return (real as (...a: unknown[]) => number)(...args);
  }) as typeof fs.writeSync);
}

test('a save that fails part-way leaves no file behind', () => {
  const file = path.join(dir, 'model.safetensors');
  const spy = failNthWrite(3); // length and header written, the first tensor's data fails
  expect(() => save(big(), file)).toThrow('ENOSPC');
  expect(spy).toHaveBeenCalledTimes(3);
  expect(fs.readdirSync(dir)).toEqual([]);
});

test('a failed save over an existing checkpoint keeps the old one intact', () => {
  const file = path.join(dir, 'model.safetensors');
  const old = { w: tn.tensor([1, 2, 3], { dtype: 'float32' }) };
  save(old, file);
  const before = fs.readFileSync(file);
  failNthWrite(4);
  expect(() => save(big(), file)).toThrow('ENOSPC');
  expect(fs.readdirSync(dir)).toEqual(['model.safetensors']);
  expect(fs.readFileSync(file).equals(before)).toBe(true);
  expect(load(file).w.toArray()).toEqual([1, 2, 3]);
});

test('a failing rename removes the temporary file', () => {
  const file = path.join(dir, 'h.json');
  jest.spyOn(fs, 'renameSync').mockImplementation(() => {
    throw Object.assign(new Error('EXDEV: cross-device link not permitted'), { code: 'EXDEV' });
  });
  expect(() => writeFileAtomic(file, ['{"a":1}'])).toThrow('EXDEV');
  expect(fs.readdirSync(dir)).toEqual([]);
});

test('the file and then its folder are fsynced, and the data lands whole', () => {
  const file = path.join(dir, 'h.json');
  const fsync = jest.spyOn(fs, 'fsyncSync');
  const rename = jest.spyOn(fs, 'renameSync');
  const close = jest.spyOn(fs, 'closeSync');
  writeFileAtomic(file, ['{"a":', Buffer.from('1}')]);
  expect(fs.readFileSync(file, 'utf8')).toBe('{"a":1}');
  expect(fsync).toHaveBeenCalledTimes(2);
  // the file's fsync comes before the rename, the folder's after it
  expect(fsync.mock.invocationCallOrder[0]).toBeLessThan(rename.mock.invocationCallOrder[0]);
  expect(fsync.mock.invocationCallOrder[1]).toBeGreaterThan(rename.mock.invocationCallOrder[0]);
  // the temporary file is closed only once renamed: while it exists, its writer holds it open
  expect(close.mock.invocationCallOrder[0]).toBeGreaterThan(rename.mock.invocationCallOrder[0]);
  expect(fs.readdirSync(dir)).toEqual(['h.json']);
});

test('a positioned chunk overwrites bytes written before it', () => {
  const file = path.join(dir, 'h.txt');
  writeFileAtomic(file, ['hello ', { at: 0, bytes: Buffer.from('J') }, 'world', { at: 10, bytes: Buffer.from('D!') }]);
  expect(fs.readFileSync(file, 'utf8')).toBe('Jello worlD!');
});

// ---------------------------------------------------------------------------------------------
// temporary files left by killed writers

const temps = (): string[] => fs.readdirSync(dir).filter((f) => f.startsWith('.') && f.endsWith('.tmp')).sort();
const HAS_PROC_FD = fs.existsSync('/proc/self/fd');

/** A pid that no process has now: one of a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', ''], { stdio: 'ignore' });
  return r.pid!;
}

test('a save removes the temporary files of dead writers of that target, and only those', () => {
  const file = path.join(dir, 'model.safetensors');
  const dead = deadPid();
  const live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const openFd = fs.openSync(path.join(dir, `.model.safetensors.${process.pid}.open1.tmp`), 'w');
  try {
    const leave = (name: string): void => fs.writeFileSync(path.join(dir, name), 'partial');
    leave(`.model.safetensors.${dead}.k1lled.tmp`); // dead writer: removed
    leave(`.model.safetensors.${dead}.tmp`); // not a name writeFileAtomic gives: kept
    leave(`.model.safetensors.${live.pid}.a11ve.tmp`); // live writer: kept
    leave(`.other.safetensors.${dead}.x.tmp`); // another target: kept
    leave(`.model.safetensors.1.${dead}.x.tmp`); // the target "model.safetensors.1": kept
    // our own pid, but not open here: left by an earlier process that had our pid (removed where
    // /proc/self/fd shows what is open, else kept)
    leave(`.model.safetensors.${process.pid}.e4rlier.tmp`);
    save(big(), file);
    const want = [
      `.model.safetensors.${live.pid}.a11ve.tmp`,
      `.model.safetensors.${process.pid}.open1.tmp`, // open in this process: a write in progress
      `.model.safetensors.${dead}.tmp`,
      `.model.safetensors.1.${dead}.x.tmp`,
      `.other.safetensors.${dead}.x.tmp`,
    ];
    if (!HAS_PROC_FD) want.push(`.model.safetensors.${process.pid}.e4rlier.tmp`);
    expect(temps()).toEqual(want.sort());
    expect(load(file).b.shape).toEqual([1000]);
  } finally {
    fs.closeSync(openFd);
    live.kill('SIGKILL');
  }
});

test('a save started while another save of the same target is writing leaves it alone', () => {
  // The chunks are produced lazily, so a save can start in the middle of another (the same holds
  // for a save in a worker thread, which shares our pid and our open files).
  const file = path.join(dir, 'h.json');
  writeFileAtomic(file, (function* () {
    yield '{"outer":';
    expect(temps()).toHaveLength(1);
    writeFileAtomic(file, ['{"inner":1}']);
    expect(temps()).toHaveLength(1); // the outer write's file survived the inner write
    yield '2}';
  })());
  expect(fs.readFileSync(file, 'utf8')).toBe('{"outer":2}');
  expect(temps()).toEqual([]);
});

test('repeated SIGKILLs mid-save leave no temporary files once the next save is done', async () => {
  // The child runs writeFileAtomic itself (compiled here; a child cannot run TypeScript), saving a
  // 4 MB file over and over; after the first megabyte of each save it says so and pauses, and is
  // killed there. Without the clean-up every kill leaves one temporary file.
  const tensors = { w: tn.randn([1 << 20]) };
  const src = path.join(dir, 'src.bin');
  fs.writeFileSync(src, serialize(tensors));
  const atomicJs = path.join(dir, 'atomic.js');
  const tsSource = fs.readFileSync(path.join(__dirname, '..', '..', 'lib', 'io', 'atomic.ts'), 'utf8');
  fs.writeFileSync(atomicJs, ts.transpileModule(tsSource, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText);
  const file = path.join(dir, 'ckpt.safetensors');
  const child = `
    const fs = require('fs');
    const { writeFileAtomic } = require(${JSON.stringify(atomicJs)});
    const data = fs.readFileSync(${JSON.stringify(src)});
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (;;) {
      writeFileAtomic(${JSON.stringify(file)}, (function* () {
        for (let i = 0; i < data.length; i += 1 << 20) {
          yield data.subarray(i, i + (1 << 20));
          if (i === 0) { fs.writeSync(1, 'mid'); Atomics.wait(pause, 0, 0, 1000); }
        }
      })());
    }`;
  const killMidSave = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const c: ChildProcess = spawn(process.execPath, ['-e', child], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      const timer = setTimeout(() => {
        c.kill('SIGKILL');
        reject(new Error(`the child did not start a save within 15 s: ${stderr}`));
      }, 15000);
      c.stderr!.on('data', (d) => (stderr += d));
      c.stdout!.once('data', () => c.kill('SIGKILL'));
      c.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (signal === 'SIGKILL') resolve();
        else reject(new Error(`the child exited with ${code}: ${stderr}`));
      });
    });
  const kills = 10;
  for (let i = 0; i < kills; i++) await killMidSave();
  // each child removed its predecessors' files, so only the last one's is left...
  expect(temps()).toHaveLength(1);
  // ...and the next save removes that one too
  save(tensors, file);
  expect(temps()).toEqual([]);
  expect(load(file).w.toArray()).toEqual(tensors.w.toArray());
}, 60000);
