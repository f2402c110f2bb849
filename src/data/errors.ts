/**
 * The one error type of the dataset readers (CIFAR binaries, ImageFolder, download and
 * extraction). Every message is a single line that names the file, folder or URL concerned and,
 * where there is one, what to do about it.
 */
import { UserError } from '../errors.js';

export class DatasetError extends UserError {
  constructor(message: string) {
    // one line, always: reasons from the OS or a server may carry newlines
    super(message.replace(/\s*[\r\n]+\s*/g, ' ').trim());
  }
}

/** A short, human reason for a failed file-system call; declared in src/errors.ts. */
export { describeFsError } from '../errors.js';
