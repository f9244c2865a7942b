// Atomic file writes: a reader (or a crash) sees either the old file or the complete new one,
// never a half-written one. We write a temporary file in the same folder (so that rename stays
// within one file system), fsync it, rename it over the target, then fsync the folder so that the
// rename itself is durable. Used for checkpoints, history files and the learning-curve chart.
import * as fs from 'fs';
import * as path from 'path';

/**
 * Writes `chunks` (written in order, so a large file need not exist in memory as one buffer) to
 * `file` atomically. On any failure the temporary file is removed and the error re-thrown; an
 * existing `file` is then left untouched.
 */
export function writeFileAtomic(file: string, chunks: Iterable<Uint8Array | string>): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  let fd = fs.openSync(tmp, 'wx', 0o644);
  try {
    for (const chunk of chunks) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      // writeSync may write less than asked (large buffers, some file systems): loop until done.
      let done = 0;
      while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd >= 0) {
      try {
        fs.closeSync(fd);
      } catch {
        // already failing: the first error is the one to report
      }
    }
    try {
      fs.unlinkSync(tmp);
    } catch {
      // the temporary file may already be gone (rename half-done by the OS is not possible)
    }
    throw e;
  }
  fsyncDir(dir);
}

/** Makes a rename in `dir` durable. Some platforms cannot open or fsync a folder; there we skip it. */
function fsyncDir(dir: string): void {
  let fd = -1;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw e;
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}
