/**
 * Writing files and folders so that a failure leaves nothing half-done behind: a file goes to a
 * temporary name beside its destination and is renamed into place only when complete; folders
 * created for a write that then fails are removed again. A failure the user can fix (a full disk,
 * a read-only or missing folder) is one `UserError` line naming the path (see `fsError`).
 *
 * @example
 * import { writeFileAtomic } from 'tessera';
 * writeFileAtomic('/tmp/tessera-note.txt', 'hello\n');
 */
import { existsSync, mkdirSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { errnoCode, fsError } from '../errors.js';

/** Writes a whole file (`fs.writeFileSync` by default; tests inject failures such as ENOSPC). */
export type WriteFile = (path: string, data: Uint8Array | string) => void;

export interface AtomicWriteOptions {
  /** how the bytes reach the disk; default `fs.writeFileSync` */
  readonly writeFile?: WriteFile;
}

/** A file written under a temporary name, waiting to be renamed into place or thrown away. */
export interface StagedFile {
  /** the temporary file, complete on disk */
  readonly tmp: string;
  /** renames the temporary file onto the destination */
  commit(): void;
  /** removes the temporary file unless committed; safe to call more than once (use it in `finally`) */
  discard(): void;
}

/**
 * Writes `data` to `path.tmp-<pid>` and returns it staged: `commit()` renames it onto `path`,
 * `discard()` removes it. A failed write removes the partial temporary file and throws.
 *
 * @example
 * import { stageFile } from 'tessera';
 * const staged = stageFile('/tmp/tessera-model.bin', new Uint8Array([1, 2, 3]));
 * try {
 *   // check staged.tmp here; commit only when it is good
 *   staged.commit();
 * } finally {
 *   staged.discard();
 * }
 */
export function stageFile(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): StagedFile {
  const tmp = `${path}.tmp-${process.pid}`;
  let pending = true;
  const discard = () => {
    if (pending) rmSync(tmp, { force: true });
    pending = false;
  };
  try {
    (opts.writeFile ?? writeFileSync)(tmp, data);
  } catch (e) {
    discard();
    throw fsError(e, path, 'write');
  }
  const commit = () => {
    try {
      renameSync(tmp, path);
      pending = false;
    } catch (e) {
      discard();
      throw fsError(e, path, 'write');
    }
  };
  return { tmp, commit, discard };
}

/**
 * Writes `data` to `path` atomically: a temporary file renamed into place, so `path` is either
 * its old self or complete, and no temporary file remains after a failure.
 *
 * @example
 * import { writeFileAtomic } from 'tessera';
 * writeFileAtomic('/tmp/tessera-config.json', JSON.stringify({ lr: 0.1 }));
 */
export function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): void {
  const staged = stageFile(path, data, opts);
  try {
    staged.commit();
  } finally {
    staged.discard();
  }
}

/**
 * Creates `dir` and its missing parents and returns an undo that removes the folders it created
 * (innermost first, only while they are empty), so a write that fails afterwards leaves no empty
 * folders behind. Walks up to the first existing ancestor itself: Node's recursive `mkdirSync`
 * can spin forever on some pseudo file systems (/proc). A failure removes what it created and
 * throws the file-system error as is (the caller names the folder's purpose, e.g. with `fsError`).
 *
 * @example
 * import { makeDirs } from 'tessera';
 * const undo = makeDirs('/tmp/tessera-a/b/c');
 * undo(); // removes c, b and a again (they are empty)
 */
export function makeDirs(dir: string): () => void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  const created: string[] = [];
  const undo = () => {
    for (const d of created.splice(0).reverse()) {
      try {
        rmdirSync(d);
      } catch {
        return; // not empty (someone else wrote there) or already gone: leave it and its parents
      }
    }
  };
  try {
    for (const d of missing.reverse()) {
      if (mkdirIfAbsent(d)) created.push(d);
    }
  } catch (e) {
    undo();
    throw e;
  }
  return undo;
}

/** mkdir that tolerates the folder appearing meanwhile (another process); true when this call created it. */
function mkdirIfAbsent(dir: string): boolean {
  try {
    mkdirSync(dir);
    return true;
  } catch (e) {
    if (errnoCode(e) === 'EEXIST' && existsSync(dir)) return false;
    throw e;
  }
}
