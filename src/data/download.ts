/**
 * Fetching the official CIFAR binary archives into a cache directory.
 *
 * `<cacheDir>/cifar-10-batches-bin/` and `<cacheDir>/cifar-100-binary/` are used when present.
 * Otherwise the archive is downloaded (progress on stderr), its MD5 checked, and it is extracted
 * into a temporary folder inside the cache that is renamed into place only when complete: a
 * failure at any step leaves nothing behind. Without network, the error says which URL to fetch
 * by hand and where to extract it.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { cifarFiles, cifarFolder, type CifarVariant } from './cifar.js';
import { DatasetError, describeFsError } from './errors.js';
import { makeDirs } from '../util/files.js';
import { extractTarGz } from './tar.js';

/** The official archives (https://www.cs.toronto.edu/~kriz/cifar.html). */
export const CIFAR_ARCHIVES: Readonly<Record<CifarVariant, { readonly url: string; readonly md5: string }>> = {
  cifar10: {
    url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
    md5: 'c32a1d4ab5d03f1284b67883e8d87530',
  },
  cifar100: {
    url: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz',
    md5: '03b5dce01913d631647c71ecec9e9cb8',
  },
};

export interface CifarCacheOptions {
  /** where datasets live; default `$TESSERA_CACHE`, else `~/.cache/tessera` */
  readonly cacheDir?: string;
  /** never download: a dataset missing from the cache is an error saying how to get it */
  readonly offline?: boolean;
  /** replace the archive URL per variant (tests point these at a local server) */
  readonly urls?: Partial<Record<CifarVariant, string>>;
  /** replace the expected MD5 (hex) per variant */
  readonly md5?: Partial<Record<CifarVariant, string>>;
  /** where the progress line goes; default process.stderr, `false` for none */
  readonly progress?: NodeJS.WritableStream | false;
  /** seconds without any data from the server before the download fails; default 60 */
  readonly timeoutSeconds?: number;
}

/**
 * The dataset cache directory: `$TESSERA_CACHE` when set, else `~/.cache/tessera`.
 *
 * @example
 *   defaultCacheDir(); // '/home/me/.cache/tessera'
 */
export function defaultCacheDir(): string {
  const env = process.env.TESSERA_CACHE;
  return env && env.trim() !== '' ? env : join(homedir(), '.cache', 'tessera');
}

/**
 * Returns the folder holding `variant`'s binary files in the cache, downloading, verifying and
 * extracting the official archive first when it is not there (unless `offline`). Throws
 * DatasetError: offline or unreachable → one line `download <url> and extract it into <cacheDir>`;
 * MD5 mismatch, corrupt archive, or an archive without the expected files → one line naming the
 * URL. Nothing half-written is left in the cache.
 *
 * @example
 *   const dir = await ensureCifar('cifar10', {});       // ~/.cache/tessera/cifar-10-batches-bin
 *   const ds = openCifar(dir, { variant: 'cifar10', split: 'test' });
 *   await ensureCifar('cifar100', { offline: true });  // throws unless already cached
 */
export async function ensureCifar(variant: CifarVariant, opts: CifarCacheOptions = {}): Promise<string> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const folder = join(cacheDir, cifarFolder(variant));
  if (existsSync(folder)) return folder;

  const url = opts.urls?.[variant] ?? CIFAR_ARCHIVES[variant].url;
  const md5 = (opts.md5?.[variant] ?? CIFAR_ARCHIVES[variant].md5).toLowerCase();
  const byHand = `download ${url} and extract it into ${cacheDir}`;
  if (opts.offline) {
    throw new DatasetError(`${variant} is not in ${cacheDir} and downloads are off (offline): ${byHand}`);
  }

  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatasetError(`${JSON.stringify(url)} is not a valid URL for ${variant}`);
  }
  let tmp: string;
  let undoDirs: (() => void) | undefined;
  try {
    undoDirs = makeDirs(cacheDir);
    tmp = mkdtempSync(join(cacheDir, `.${variant}-download-`));
  } catch (e) {
    undoDirs?.();
    throw new DatasetError(`${cacheDir}: cannot write to the cache directory: ${describeFsError(e)}`);
  }
  let done = false;
  try {
    const archive = join(tmp, basename(parsed.pathname) || `${variant}.tar.gz`);
    let got: { bytes: number; md5: string };
    try {
      got = await downloadFile(url, archive, {
        progress: opts.progress === undefined ? process.stderr : opts.progress,
        timeoutSeconds: opts.timeoutSeconds ?? 60,
      });
    } catch (e) {
      if (e instanceof DatasetError) throw e;
      throw new DatasetError(`${variant} is not in ${cacheDir} and the download failed (${describeNetError(e)}): ${byHand}`);
    }
    if (got.md5 !== md5) {
      throw new DatasetError(
        `${url}: MD5 ${got.md5} of the ${got.bytes} downloaded bytes is not the expected ${md5} ` +
          `(damaged or different file; nothing was kept): retry, or ${byHand}`,
      );
    }
    const out = join(tmp, 'extracted');
    try {
      await extractTarGz(archive, out);
    } catch (e) {
      throw new DatasetError(`${url}: ${(e as Error).message}`);
    }
    const extracted = join(out, cifarFolder(variant));
    const missing = cifarFiles(variant).filter((f) => !existsSync(join(extracted, f)));
    if (missing.length > 0) {
      throw new DatasetError(
        `${url}: the archive lacks ${missing.map((f) => `${cifarFolder(variant)}/${f}`).join(', ')}; ` +
          `is it the ${variant} binary version?`,
      );
    }
    try {
      renameSync(extracted, folder);
    } catch (e) {
      // another process may have finished the same download first: theirs is as good as ours
      if (!existsSync(folder)) throw new DatasetError(`${folder}: cannot move the extracted files into place: ${describeFsError(e)}`);
    }
    done = true;
    return folder;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    // a failed download leaves no cache folder it had to create
    if (!done) undoDirs();
  }
}

interface DownloadOptions {
  readonly progress: NodeJS.WritableStream | false;
  readonly timeoutSeconds: number;
}

/**
 * Streams `url` (http or https, following up to 5 redirects) into the file `dest`, computing its
 * MD5 on the way and reporting progress. Rejects with the network or HTTP error as is.
 *
 * @example
 *   const { bytes, md5 } = await downloadFile('https://example.org/a.tar.gz', '/tmp/a.tar.gz', {
 *     progress: process.stderr, timeoutSeconds: 60 });
 */
export async function downloadFile(
  url: string,
  dest: string,
  opts: DownloadOptions,
): Promise<{ bytes: number; md5: string }> {
  const response = await get(new URL(url), opts.timeoutSeconds * 1000, 5);
  const total = Number(response.headers['content-length']) || undefined;
  const hash = createHash('md5');
  const progress = new Progress(opts.progress, basename(dest), total);
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      progress.update(bytes);
      done(null, chunk);
    },
  });
  try {
    await pipeline(response, meter, createWriteStream(dest));
  } finally {
    progress.finish(bytes);
  }
  if (total !== undefined && bytes !== total) {
    throw new Error(`connection closed after ${bytes} of ${total} bytes`);
  }
  return { bytes, md5: hash.digest('hex') };
}

function get(url: URL, timeoutMs: number, redirects: number): Promise<http.IncomingMessage> {
  const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
  if (!client) return Promise.reject(new Error(`unsupported URL scheme ${url.protocol}`));
  return new Promise((resolvePromise, reject) => {
    const req = client.get(url, { headers: { 'user-agent': 'tessera' }, timeout: timeoutMs }, (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && location) {
        res.resume();
        if (redirects <= 0) reject(new Error(`too many redirects at ${url.href}`));
        else resolvePromise(get(new URL(location, url), timeoutMs, redirects - 1));
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new Error(`HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''} from ${url.href}`));
        return;
      }
      resolvePromise(res);
    });
    req.on('timeout', () => req.destroy(new Error(`no data for ${timeoutMs / 1000} s`)));
    req.on('error', reject);
  });
}

/** The reason of a network error in a few words, AggregateError (IPv4 and IPv6 both failing) included. */
function describeNetError(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { errors?: unknown[] };
  if (err?.message) return err.message;
  if (Array.isArray(err?.errors) && err.errors.length > 0) {
    return err.errors.map((x) => (x as Error).message || String(x)).join('; ');
  }
  return err?.code ?? String(e);
}

/** One progress line: `<file>: 12.3 MiB of 162.6 MiB (7%), 4.1 MiB/s`; redrawn in place on a TTY. */
class Progress {
  private readonly start = Date.now();
  private last = Date.now();
  private readonly tty: boolean;

  constructor(
    private readonly out: NodeJS.WritableStream | false,
    private readonly label: string,
    private readonly total: number | undefined,
  ) {
    this.tty = out !== false && (out as { isTTY?: boolean }).isTTY === true;
  }

  update(bytes: number): void {
    if (this.out === false) return;
    const now = Date.now();
    // a TTY line is redrawn 5 times a second; a log gets a line every 10 seconds
    if (now - this.last < (this.tty ? 200 : 10_000)) return;
    this.last = now;
    this.out.write(this.tty ? `\r${this.line(bytes, now)}\x1b[K` : `${this.line(bytes, now)}\n`);
  }

  finish(bytes: number): void {
    if (this.out === false) return;
    const line = `${this.line(bytes, Date.now())}, ${bytes} bytes in all`;
    this.out.write(this.tty ? `\r${line}\x1b[K\n` : `${line}\n`);
  }

  private line(bytes: number, now: number): string {
    const seconds = Math.max((now - this.start) / 1000, 1e-3);
    const of = this.total ? ` of ${mib(this.total)} (${Math.floor((100 * bytes) / this.total)}%)` : '';
    return `downloading ${this.label}: ${mib(bytes)}${of}, ${mib(bytes / seconds)}/s`;
  }
}

function mib(bytes: number): string {
  return bytes < 1 << 20 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}
