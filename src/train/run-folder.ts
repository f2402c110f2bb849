/**
 * The run folder of one training call, held for the length of the run:
 *
 * - **Locked.** `train.lock` holds `{"pid", "host"}` of the run using the folder; a second run on
 *   the same folder refuses (RunLockedError). The lock is released on every way out: a normal
 *   return, an error, SIGINT/SIGTERM/SIGHUP, `process.exit`. A lock whose process is gone (a
 *   killed run) is stale: the next run takes it over and says so.
 * - **Staged.** Setup files (config.json, metrics.jsonl) are written in full to temporary names
 *   first and renamed into place together (`commit`), so a failed write changes nothing.
 * - **Undone on failure.** Until the folder holds a resumable run (`settle`: the first checkpoint
 *   of a new run, the commit of a resumed one), a failure puts the folder back as it was: files
 *   the run created are removed, files it replaced get their old contents back, folders it
 *   created are removed. A resumed run's files are never lost.
 *
 * @example
 * const folder = RunFolder.open('runs/a', { log: console.log });
 * try {
 *   folder.stage('config.json', '{}\n');
 *   folder.commit();
 *   folder.settle();
 * } catch (e) {
 *   folder.close('failed');
 *   throw e;
 * }
 * folder.close('done');
 */
import { existsSync, linkSync, readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UserError, describeFsError, errnoCode } from '../errors.js';
import { makeDirs } from '../util/files.js';
import { TrainSetupError } from './options.js';

/** The lock file's name inside a run folder. */
export const LOCK_FILE = 'train.lock';

/** Writes a whole file (replacing it). Every file the run folder writes itself goes through one: tests inject failures (ENOSPC) with it. */
export type FileWriter = (path: string, data: string) => void;

const defaultWriter: FileWriter = (path, data) => writeFileSync(path, data);

/** Another run holds the folder's lock (or the lock cannot be read). */
export class RunLockedError extends UserError {}

export interface RunFolderOptions {
  /** default: writeFileSync */
  readonly writeFile?: FileWriter;
  /** where "took over a stale lock" is said */
  readonly log?: (line: string) => void;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export class RunFolder {
  /** entries the folder held when the run opened it */
  private readonly before: ReadonlySet<string>;
  /** contents of the files `commit` replaced (null: there was none) */
  private readonly replaced = new Map<string, Buffer | null>();
  /** file name → its temporary twin */
  private readonly staged = new Map<string, string>();
  private settled = false;
  private closed = false;
  private readonly onExit = (): void => this.close('failed');
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.close('failed');
    // with no other listener left, the signal's default action (ending the process) applies again
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };

  private constructor(
    readonly dir: string,
    private readonly write: FileWriter,
    /** removes the folders this run created (while they are empty) */
    private readonly undoDirs: () => void,
  ) {
    this.before = new Set(readdirSync(dir).filter((name) => name !== LOCK_FILE));
    process.on('exit', this.onExit);
    for (const s of SIGNALS) process.on(s, this.onSignal);
  }

  /**
   * Creates the folder (and missing parents) and takes its lock. Throws TrainSetupError when the
   * folder cannot be written, RunLockedError when another live run holds it; either way nothing
   * is left behind.
   */
  static open(dir: string, opts: RunFolderOptions = {}): RunFolder {
    const write = opts.writeFile ?? defaultWriter;
    let undoDirs = (): void => {};
    try {
      undoDirs = makeDirs(dir);
      takeLock(dir, write, opts.log ?? (() => {}));
      return new RunFolder(dir, write, undoDirs);
    } catch (e) {
      undoDirs();
      if (e instanceof RunLockedError) throw e;
      throw new TrainSetupError(`cannot write to the output folder ${dir}: ${describeFsError(e)}`);
    }
  }

  /** `<dir>/<name>` */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** Writes `text` to a temporary twin of `name`; `commit` puts it in place. */
  stage(name: string, text: string): void {
    const tmp = `${this.path(name)}.tmp-${process.pid}`;
    this.staged.set(name, tmp);
    try {
      this.write(tmp, text);
    } catch (e) {
      throw new TrainSetupError(`cannot write ${this.path(name)}: ${describeFsError(e)}; the run folder was left as it was`);
    }
  }

  /** Renames every staged file into place, remembering what it replaced. */
  commit(): void {
    for (const [name, tmp] of this.staged) {
      const path = this.path(name);
      if (!this.replaced.has(name)) this.replaced.set(name, existsSync(path) ? readFileSync(path) : null);
      try {
        renameSync(tmp, path);
      } catch (e) {
        throw new TrainSetupError(`cannot write ${path}: ${describeFsError(e)}; the run folder was left as it was`);
      }
      this.staged.delete(name);
    }
  }

  /** The folder now holds a resumable run: a later failure keeps what is there. */
  settle(): void {
    this.settled = true;
    this.replaced.clear();
  }

  /**
   * Releases the lock; after a failure (`'failed'`) of a run that never settled, first puts the
   * folder back as it was. Idempotent; never throws.
   */
  close(outcome: 'done' | 'failed'): void {
    if (this.closed) return;
    this.closed = true;
    process.off('exit', this.onExit);
    for (const s of SIGNALS) process.off(s, this.onSignal);
    for (const tmp of this.staged.values()) removeFile(tmp);
    if (outcome === 'failed' && !this.settled) this.undo();
    removeFile(this.path(LOCK_FILE));
    if (outcome === 'failed' && !this.settled) this.undoDirs();
  }

  /** Gives replaced files their old contents back and removes every file the run added. */
  private undo(): void {
    for (const [name, old] of this.replaced) {
      if (old === null) continue;
      try {
        writeFileSync(this.path(name), old);
      } catch {
        // best effort: the failure that brought us here is the one to report
      }
    }
    const added = (name: string) => (this.replaced.has(name) ? this.replaced.get(name) === null : !this.before.has(name));
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return; // the folder is gone
    }
    for (const name of names) if (name !== LOCK_FILE && added(name)) removeFile(this.path(name));
  }
}

interface LockOwner {
  readonly pid: number;
  readonly host: string;
}

/**
 * Creates `<dir>/train.lock` atomically (written in full under a temporary name, then hard-linked:
 * the link fails when a lock exists). A lock of a process that no longer runs is taken over.
 */
function takeLock(dir: string, write: FileWriter, log: (line: string) => void): void {
  const path = join(dir, LOCK_FILE);
  const tmp = `${path}.tmp-${process.pid}`;
  write(tmp, `${JSON.stringify({ pid: process.pid, host: hostname() } satisfies LockOwner)}\n`);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (tryLink(tmp, path)) return;
      const text = readIfExists(path);
      if (text === undefined) continue;
      const owner = parseOwner(text);
      if (!owner || owner.host !== hostname()) throw new RunLockedError(lockedMessage(dir, path, owner));
      if (isRunning(owner.pid)) throw new RunLockedError(lockedMessage(dir, path, owner));
      if (readIfExists(path) !== text) continue;
      unlinkSync(path);
      log(`${dir}: taking over the lock of PID ${owner.pid}, which is no longer running (a run that was killed)`);
    }
    throw new RunLockedError(`${dir}: another run is taking the folder's lock at the same moment; try again or choose another --out`);
  } finally {
    removeFile(tmp);
  }
}

function lockedMessage(dir: string, path: string, owner: LockOwner | undefined): string {
  if (!owner) return `${dir} is locked by ${path}, which cannot be read; if no training run uses the folder, delete that file`;
  if (owner.host !== hostname()) return `${dir} is in use by a training run on host ${owner.host} (PID ${owner.pid}); if that run is gone, delete ${path}`;
  return `${dir} is in use by another training run (PID ${owner.pid}); wait for it to finish or choose another --out`;
}

/** Creates `to` with the contents of `from` unless it exists (false then). */
function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (e) {
    if (errnoCode(e) === 'EEXIST') return false;
    if (!NO_HARD_LINKS.includes(errnoCode(e) ?? '')) throw e;
  }
  // a file system without hard links: an exclusive create (a reader may see it empty for a moment)
  try {
    writeFileSync(to, readFileSync(from), { flag: 'wx' });
    return true;
  } catch (e) {
    if (errnoCode(e) === 'EEXIST') return false;
    throw e;
  }
}

const NO_HARD_LINKS = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK'];

function parseOwner(text: string): LockOwner | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || !('pid' in v) || !('host' in v)) return undefined;
    const { pid, host } = v;
    return Number.isSafeInteger(pid) && typeof pid === 'number' && pid > 0 && typeof host === 'string' ? { pid, host } : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this id exists (EPERM: it does, under another user). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === 'EPERM';
  }
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return undefined;
    throw e;
  }
}

function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
