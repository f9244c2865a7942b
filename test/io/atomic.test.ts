// Atomic writes: a write that fails part-way leaves no partial file and no temporary file, and
// an existing file keeps its old contents; a write that succeeds replaces the file whole.
// The real module object (not an import-star copy), so that jest.spyOn can replace its functions.
import fs = require('fs');
import * as os from 'os';
import * as path from 'path';
import * as tn from '../../lib';
import { save, load, writeFileAtomic } from '../../lib/io';

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
  writeFileAtomic(file, ['{"a":', Buffer.from('1}')]);
  expect(fs.readFileSync(file, 'utf8')).toBe('{"a":1}');
  expect(fsync).toHaveBeenCalledTimes(2);
  // the file's fsync comes before the rename, the folder's after it
  expect(fsync.mock.invocationCallOrder[0]).toBeLessThan(rename.mock.invocationCallOrder[0]);
  expect(fsync.mock.invocationCallOrder[1]).toBeGreaterThan(rename.mock.invocationCallOrder[0]);
  expect(fs.readdirSync(dir)).toEqual(['h.json']);
});
