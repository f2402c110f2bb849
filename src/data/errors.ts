/**
 * The one error type of the dataset readers (CIFAR binaries, ImageFolder, download and
 * extraction). Every message is a single line that names the file, folder or URL concerned and,
 * where there is one, what to do about it.
 */

export class DatasetError extends Error {
  constructor(message: string) {
    // one line, always: reasons from the OS or a server may carry newlines
    super(message.replace(/\s*[\r\n]+\s*/g, ' ').trim());
    this.name = 'DatasetError';
  }
}

/** A short, human reason for a failed file-system call (`ENOENT` → 'no such file or directory'). */
export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'ENOTDIR') return 'a path component is not a directory';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOSPC') return 'no space left on device';
  return e instanceof Error ? e.message : String(e);
}
