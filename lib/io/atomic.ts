// Atomic file writes: a reader (or a crash) sees either the old file or the complete new one,
// never a half-written one. We write a temporary file in the same folder (so that rename stays
// within one file system), fsync it, rename it over the target, then fsync the folder so that the
// rename itself is durable. Used for checkpoints, history files and the learning-curve chart.
//
// A writer killed mid-write (SIGKILL, OOM killer, power loss) leaves its temporary file behind, and
// a training run that is killed and restarted again and again fills the folder with them. Node has
// no O_TMPFILE + linkat (a file that has no name until it is complete), so instead each write first
// removes the temporary files that earlier writers of the same target left behind (removeStaleTemps).
import * as fs from 'fs';
import * as path from 'path';

/**
 * A chunk written at byte offset `at` rather than after the previous one, over bytes written
 * before: lets a writer fill in a header once it has seen the data (safetensors' checksums).
 */
export interface PatchChunk {
  at: number;
  bytes: Uint8Array;
}

/**
 * Writes `chunks` (written in order, so a large file need not exist in memory as one buffer) to
 * `file` atomically. On any failure the temporary file is removed and the error re-thrown; an
 * existing `file` is then left untouched.
 */
export function writeFileAtomic(file: string, chunks: Iterable<Uint8Array | string | PatchChunk>): void {
  const dir = path.dirname(path.resolve(file));
  const base = path.basename(file);
  removeStaleTemps(dir, base);
  const tmp = path.join(dir, `.${base}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  let fd = fs.openSync(tmp, 'wx', 0o644);
  try {
    for (const chunk of chunks) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk instanceof Uint8Array ? chunk : chunk.bytes;
      // a positioned write (pwrite) leaves the file position, where the next plain chunk goes, alone
      const at = typeof chunk === 'string' || chunk instanceof Uint8Array ? null : chunk.at;
      // writeSync may write less than asked (large buffers, some file systems): loop until done.
      let done = 0;
      while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done, at === null ? null : at + done);
    }
    fs.fsyncSync(fd);
    // Renamed before it is closed: a temporary file of a live writer in this process is then open
    // for as long as it exists, which is how removeStaleTemps tells it from a dead one's. (POSIX
    // renames open files; Windows should too, as libuv opens files with FILE_SHARE_DELETE, but
    // that is untested here.)
    fs.renameSync(tmp, file);
    fs.closeSync(fd);
    fd = -1;
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

/**
 * Removes the temporary files `.<base>.<pid>.<random>.tmp` in `dir` whose writer is dead. Best
 * effort: a file it cannot remove (or that another cleaner removed first) is skipped, never an
 * error, since a save must not fail over someone else's leftovers.
 *
 * Which writers are dead: the name carries the writer's pid.
 *  - Another pid: dead when process.kill(pid, 0) says no such process (ESRCH). EPERM means the
 *    pid is alive under another user; keep it. A dead writer's pid may since have been reused by
 *    a live process: then its file stays until that process ends (a leak, never a lost write).
 *  - Our own pid: either a write in progress in this process (another worker thread, or a
 *    re-entrant save from the chunks iterable) or the leftover of an earlier process that had the
 *    same pid (in a container the training process often is pid 1 on every restart). A module-level
 *    set of names in progress cannot tell them apart, since each worker thread has its own copy of
 *    this module; the file descriptor table is shared by all threads, so a file is ours exactly
 *    when one of our descriptors points at it (writeFileAtomic keeps its file open until renamed).
 *    Where /proc/self/fd cannot be read (not Linux) such files are kept.
 * The pid says nothing about writers on other hosts: where several machines write into one shared
 * folder under the same name, this may remove a live writer's file (that save then fails; the
 * target is never damaged).
 */
function removeStaleTemps(dir: string, base: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return; // a missing folder fails the write itself, with a clearer error
  }
  const prefix = `.${base}.`;
  let ours: Set<string> | null | undefined; // dev:ino of the files this process has open, read once
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    // the random part has no dots, so the temporary files of "<base>.1" do not match here
    const m = /^(\d+)\.[a-z0-9]*$/.exec(name.slice(prefix.length, -'.tmp'.length));
    if (!m) continue;
    const pid = Number(m[1]);
    const tmp = path.join(dir, name);
    try {
      if (pid === process.pid) {
        if (ours === undefined) ours = openFiles();
        const st = fs.statSync(tmp);
        if (ours === null || ours.has(`${st.dev}:${st.ino}`)) continue;
      } else if (isAlive(pid)) {
        continue;
      }
      fs.unlinkSync(tmp);
    } catch {
      // gone already (another writer cleaned up), or not ours to remove: leave it
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** "dev:ino" of every file this process has open, or null where the platform does not say. */
function openFiles(): Set<string> | null {
  let fds: string[];
  try {
    fds = fs.readdirSync('/proc/self/fd');
  } catch {
    return null;
  }
  const out = new Set<string>();
  for (const fd of fds) {
    try {
      const st = fs.statSync(`/proc/self/fd/${fd}`);
      out.add(`${st.dev}:${st.ino}`);
    } catch {
      // closed since readdir, or not a path (some anonymous inodes): not one of our files
    }
  }
  return out;
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
