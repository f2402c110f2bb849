/**
 * The server's bounds: request bodies (size, time), admitted images (the queue) and the error an
 * HTTP answer carries when a bound or an input check refuses a request.
 */
import type { IncomingMessage } from 'node:http';
import { UserError } from '../errors.js';

/** A refused request: its status, one line for the client (JSON `{"error": message}`) and extra headers. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The client went away before its answer (nobody to answer). */
export class ClientGone extends Error {
  constructor() {
    super('the client disconnected');
    this.name = 'ClientGone';
  }
}

const UNITS: Readonly<Record<string, number>> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/**
 * Bytes from a size such as `10MB`, `512KiB` or `1048576` (SI units for KB/MB/GB, binary for
 * KiB/MiB/GiB); throws a UserError naming `flag` otherwise.
 *
 * @example
 * parseByteSize('10MB', '--max-body'); // → 10000000
 * parseByteSize('1KiB', '--max-body'); // → 1024
 */
export function parseByteSize(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[(m[2] || 'b').toLowerCase()] : undefined;
  const bytes = m && unit ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!(bytes >= 1) || !Number.isSafeInteger(bytes)) throw new UserError(`${flag} ${text}: expected a size such as 10MB, 512KiB or 1048576 (bytes), at least 1 byte`);
  return bytes;
}

/**
 * Images admitted and not yet answered, at most `max`: a request takes its images' slots before it
 * is decoded and gives them back when it is answered or its client leaves.
 *
 * @example
 * const slots = new SlotPool(2);
 * slots.tryTake(2); // → true
 * slots.tryTake(1); // → false
 * slots.release(2);
 * slots.used; // → 0
 */
export class SlotPool {
  private taken = 0;
  constructor(readonly max: number) {}

  get used(): number {
    return this.taken;
  }

  get full(): boolean {
    return this.taken >= this.max;
  }

  tryTake(n: number): boolean {
    if (this.taken + n > this.max) return false;
    this.taken += n;
    return true;
  }

  release(n: number): void {
    this.taken = Math.max(0, this.taken - n);
  }
}

/** The 503 of a full queue: the client should retry after a second. */
export function queueFull(what: string): HttpError {
  return new HttpError(503, `the queue is full (${what}); retry later`, { 'Retry-After': '1' });
}

/** How `readBody` bounds a body. */
export interface BodyLimits {
  readonly maxBytes: number;
  /** the whole body must arrive within this many milliseconds of the call */
  readonly timeoutMs: number;
}

/**
 * The request body, refused with 413 as soon as it is known to be over `maxBytes` (from
 * Content-Length before anything is read, else while it streams in) and with 408 when it has not
 * arrived whole within `timeoutMs` (slow clients). Rejects with ClientGone when the client leaves.
 *
 * @example
 * const body = await readBody(req, { maxBytes: 10e6, timeoutMs: 10_000 });
 */
export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limits.maxBytes) return Promise.reject(tooLarge(`Content-Length ${declared}`, limits.maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const finish = (error: Error | null) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('aborted', onGone).off('error', onGone);
      if (error) {
        req.pause();
        reject(error);
      } else resolve(Buffer.concat(chunks, bytes));
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limits.maxBytes) finish(tooLarge('the body', limits.maxBytes));
      else chunks.push(chunk);
    };
    const onEnd = () => finish(null);
    const onGone = () => finish(new ClientGone());
    const timer = setTimeout(() => finish(new HttpError(408, `the request body did not arrive within ${limits.timeoutMs / 1000} s`)), limits.timeoutMs);
    req.on('data', onData).on('end', onEnd).on('aborted', onGone).on('error', onGone);
  });
}

function tooLarge(what: string, max: number): HttpError {
  return new HttpError(413, `${what} is over the server's limit of ${max} bytes (--max-body)`);
}
