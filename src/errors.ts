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
