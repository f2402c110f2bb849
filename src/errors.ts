/**
 * The one type for errors that are the user's to fix: bad input, bad arguments, missing or
 * foreign files. Its message is the one line to print (what, where, what to do). The CLI maps
 * a `UserError` to exit status 2 and every other error to 1 (`src/cli/main.ts`, nowhere else).
 * Subclasses exist only where a caller needs to tell kinds apart (`instanceof`).
 *
 * @example
 * import { UserError } from 'tessera';
 * const e = new UserError('data/cats: not a folder; pass an ImageFolder (one folder per class)');
 * console.log(e instanceof UserError, e.message);
 */
export class UserError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** What a failed file-system call means to the user and what to do, by errno code. */
const FS_PROBLEMS: Readonly<Record<string, { readonly reason: string; readonly advice?: string }>> = {
  ENOENT: { reason: 'no such file or directory' },
  ENOTDIR: { reason: 'a path component is a file, not a folder' },
  EISDIR: { reason: 'is a directory', advice: 'name a file' },
  EEXIST: { reason: 'already exists' },
  EACCES: { reason: 'permission denied', advice: 'check its permissions' },
  EPERM: { reason: 'permission denied', advice: 'check its permissions' },
  ENOSPC: { reason: 'no space left on device', advice: 'free some space or write elsewhere' },
  EDQUOT: { reason: 'disk quota exceeded', advice: 'free some space or write elsewhere' },
  EFBIG: { reason: 'file too large for the file system', advice: 'write elsewhere' },
  EROFS: { reason: 'read-only file system', advice: 'write elsewhere' },
  ENAMETOOLONG: { reason: 'file name too long' },
  ELOOP: { reason: 'too many levels of symbolic links' },
};

/** The `code` of a Node system error (`ENOENT`, `ENOSPC`, …), or undefined. */
export function errnoCode(e: unknown): string | undefined {
  if (!(e instanceof Error) || !('code' in e)) return undefined;
  return typeof e.code === 'string' ? e.code : undefined;
}

/**
 * A short, human reason for a failed file-system call (`ENOENT` → 'no such file or directory');
 * the error's own message for anything that is not a known file-system problem.
 *
 * @example
 * import { readFileSync } from 'node:fs';
 * import { describeFsError } from 'tessera';
 * try {
 *   readFileSync('/no/such/file');
 * } catch (e) {
 *   console.log(describeFsError(e)); // 'no such file or directory'
 * }
 */
export function describeFsError(e: unknown): string {
  const code = errnoCode(e);
  const known = code === undefined ? undefined : FS_PROBLEMS[code];
  if (known) return known.reason;
  return e instanceof Error ? e.message : String(e);
}

/**
 * Whether `e` is a file-system error the user can fix (a missing, unreadable or read-only path,
 * a full disk or quota) rather than a bug.
 *
 * @example
 * import { isUserFsError } from 'tessera';
 * isUserFsError(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })); // true
 */
export function isUserFsError(e: unknown): boolean {
  const code = errnoCode(e);
  return code !== undefined && Object.hasOwn(FS_PROBLEMS, code);
}

/**
 * Turns a failed file-system call on `path` into one line for the user: a `UserError`
 * `PATH: cannot WHAT: REASON; ADVICE` when the user can fix it (ENOENT, EACCES, ENOSPC, EROFS,
 * EDQUOT, ...), else `e` itself (a bug, reported as such). Use it as `throw fsError(e, path, 'write')`.
 *
 * @example
 * import { fsError } from 'tessera';
 * const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
 * fsError(full, 'out/model.onnx', 'write').message;
 * // 'out/model.onnx: cannot write: no space left on device; free some space or write elsewhere'
 */
export function fsError(e: unknown, path: string, what: string): Error {
  const code = errnoCode(e);
  const known = code === undefined ? undefined : FS_PROBLEMS[code];
  if (!known) return e instanceof Error ? e : new Error(String(e));
  return new UserError(`${path}: cannot ${what}: ${known.reason}${known.advice ? `; ${known.advice}` : ''}`, { cause: e });
}

/**
 * The error as the CLI reports it: a `UserError` as is; a file-system error the user can fix
 * (see `isUserFsError`) as a `UserError` naming the path Node attached to it; anything else
 * unchanged (a bug).
 *
 * @example
 * import { UserError, asUserError } from 'tessera';
 * const missing = Object.assign(new Error("ENOENT: no such file or directory, open 'a.png'"), { code: 'ENOENT', path: 'a.png' });
 * asUserError(missing) instanceof UserError; // true, message 'a.png: no such file or directory'
 */
export function asUserError(e: unknown): unknown {
  if (e instanceof UserError || !isUserFsError(e) || !(e instanceof Error)) return e;
  const path = 'path' in e && typeof e.path === 'string' ? e.path : undefined;
  return new UserError(path === undefined ? e.message : `${path}: ${describeFsError(e)}`, { cause: e });
}
