/**
 * A small tar reader (and writer, for tests and tools), enough for dataset archives:
 *
 * - `extractTarGz` streams a .tar.gz through zlib and writes its regular files and directories
 *   under a destination folder. It understands ustar and GNU headers, pax `path`/`size` records
 *   and GNU long names; it refuses links, devices and every other entry type, absolute paths and
 *   `..` components, so nothing is ever written outside the destination.
 * - `createTar` builds an uncompressed ustar archive in memory (gzip it with `zlib.gzipSync`).
 */
import { createReadStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep, win32 } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { DatasetError, describeFsError } from './errors.js';

const BLOCK = 512;

export interface TarEntry {
  /** the name as stored (not checked: tests use this to build hostile archives) */
  readonly path: string;
  /** default 'file' */
  readonly type?: 'file' | 'directory' | 'symlink';
  /** file contents (strings are UTF-8) */
  readonly data?: Uint8Array | string;
  /** symlink target */
  readonly linkname?: string;
}

/**
 * Builds a ustar archive (names up to 255 bytes via the prefix field, files under 8 GiB).
 *
 * @example
 *   const tgz = gzipSync(createTar([
 *     { path: 'cifar-10-batches-bin/', type: 'directory' },
 *     { path: 'cifar-10-batches-bin/batches.meta.txt', data: 'airplane\nautomobile\n' },
 *   ]));
 */
export function createTar(entries: readonly TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const data =
      typeof entry.data === 'string' ? new TextEncoder().encode(entry.data) : (entry.data ?? new Uint8Array(0));
    const size = type === 'file' ? data.length : 0;
    const header = new Uint8Array(BLOCK);
    const enc = new TextEncoder();
    let name = enc.encode(entry.path);
    let prefix = new Uint8Array(0);
    if (name.length > 100) {
      // split at a '/' so that the name fits in 100 bytes and the prefix in 155
      const text = entry.path;
      let cut = -1;
      for (let i = text.lastIndexOf('/'); i > 0; i = text.lastIndexOf('/', i - 1)) {
        if (enc.encode(text.slice(i + 1)).length <= 100) cut = i;
        else break;
      }
      if (cut < 0 || enc.encode(text.slice(0, cut)).length > 155) {
        throw new RangeError(`createTar: name too long for ustar: ${entry.path}`);
      }
      prefix = enc.encode(text.slice(0, cut));
      name = enc.encode(text.slice(cut + 1));
    }
    header.set(name, 0);
    writeOctal(header, 100, 8, type === 'directory' ? 0o755 : 0o644);
    writeOctal(header, 108, 8, 0);
    writeOctal(header, 116, 8, 0);
    writeOctal(header, 124, 12, size);
    writeOctal(header, 136, 12, 0);
    header[156] = (type === 'directory' ? '5' : type === 'symlink' ? '2' : '0').charCodeAt(0);
    if (entry.linkname) header.set(enc.encode(entry.linkname).subarray(0, 100), 157);
    header.set(enc.encode('ustar\u000000'), 257);
    header.set(prefix, 345);
    header.fill(0x20, 148, 156);
    writeOctal(header, 148, 7, header.reduce((a, b) => a + b, 0));
    parts.push(header);
    if (size > 0) {
      parts.push(data);
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      if (pad) parts.push(new Uint8Array(pad));
    }
  }
  parts.push(new Uint8Array(2 * BLOCK));
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function writeOctal(header: Uint8Array, offset: number, width: number, value: number): void {
  const text = value.toString(8).padStart(width - 1, '0');
  if (text.length > width - 1) throw new RangeError(`createTar: ${value} does not fit in a ${width}-byte field`);
  for (let i = 0; i < text.length; i++) header[offset + i] = text.charCodeAt(i);
  header[offset + width - 1] = 0;
}

/**
 * Extracts the regular files and directories of a .tar.gz file into `dest` (created if needed),
 * streaming: the archive is never held in memory. Returns the extracted files' paths relative to
 * `dest`, '/'-separated, in archive order. Throws DatasetError (one line naming the archive and
 * the entry) for a corrupt or truncated archive, an unsupported entry type, or a path that is
 * absolute or contains `..`; what was extracted before the error stays in `dest`, so extract into
 * a temporary folder and rename it into place.
 *
 * @example
 *   const files = await extractTarGz('/tmp/cifar-10-binary.tar.gz', '/tmp/x');
 *   // ['cifar-10-batches-bin/data_batch_1.bin', …]
 */
export async function extractTarGz(archive: string, dest: string): Promise<string[]> {
  const root = resolve(dest);
  const files: string[] = [];
  try {
    await mkdir(root, { recursive: true });
    await pipeline(createReadStream(archive), createGunzip(), async (source: AsyncIterable<Buffer>) => {
      await readEntries(new ByteReader(source), archive, root, files);
    });
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_')) throw new DatasetError(`${archive}: not a valid .tar.gz (${(e as Error).message})`);
    throw new DatasetError(`${archive}: cannot extract into ${dest}: ${describeFsError(e)}`);
  }
  return files;
}

/** Exact-size reads over a stream of chunks. */
class ByteReader {
  private readonly it: AsyncIterator<Buffer>;
  private chunks: Buffer[] = [];
  private have = 0;
  private ended = false;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<void> {
    while (this.have < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else if (r.value.length > 0) {
        this.chunks.push(r.value);
        this.have += r.value.length;
      }
    }
  }

  /** exactly n bytes, or fewer only at the end of the stream */
  async read(n: number): Promise<Buffer> {
    await this.fill(n);
    return this.take(Math.min(n, this.have));
  }

  /** between 1 and n bytes (0 only at the end of the stream) */
  async readSome(n: number): Promise<Buffer> {
    await this.fill(1);
    return this.take(Math.min(n, this.have, this.chunks[0]?.length ?? 0));
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - at);
        c.copy(out, at, 0, k);
        at += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.have -= n;
    return out;
  }
}

async function readEntries(reader: ByteReader, archive: string, root: string, files: string[]): Promise<void> {
  const fail = (what: string): never => {
    throw new DatasetError(`${archive}: ${what}`);
  };
  let pax: Record<string, string> = {};
  let globalPax: Record<string, string> = {};
  let longName: string | undefined;
  for (let index = 0; ; index++) {
    const header = await reader.read(BLOCK);
    if (header.length === 0) return; // end of stream without the end-of-archive blocks: accepted
    if (header.length < BLOCK) fail(`truncated: the archive ends inside the header of entry ${index}`);
    if (header.every((b) => b === 0)) return; // end-of-archive marker

    checkHeaderChecksum(header, index, fail);
    const ustar = header.toString('latin1', 257, 263) === 'ustar\u0000';
    const rawName = cString(header, 0, 100);
    const prefix = ustar ? cString(header, 345, 155) : '';
    const typeflag = String.fromCharCode(header[156]!);
    const extended = typeflag === 'x' || typeflag === 'g' || typeflag === 'L';
    const fields = { ...globalPax, ...pax };
    const size = !extended && fields.size !== undefined ? Number(fields.size) : parseNumber(header, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) fail(`entry ${index} (${JSON.stringify(rawName)}) has a bad size field`);
    const name = fields.path ?? longName ?? (prefix ? `${prefix}/${rawName}` : rawName);
    const padded = Math.ceil(size / BLOCK) * BLOCK;

    if (extended) {
      if (size > 1 << 20) fail(`entry ${index}: ${size}-byte extended header is unreasonably large`);
      const body = await reader.read(padded);
      if (body.length < padded) fail(`truncated: the archive ends inside the extended header of entry ${index}`);
      const text = body.subarray(0, size);
      if (typeflag === 'L') longName = text.toString('utf8').replace(/\0+$/, '');
      else if (typeflag === 'x') pax = parsePax(text, index, fail);
      else globalPax = { ...globalPax, ...parsePax(text, index, fail) };
      continue;
    }
    pax = {};
    longName = undefined;

    const isFile = typeflag === '0' || typeflag === '\0' || typeflag === '7';
    const isDir = typeflag === '5';
    if (!isFile && !isDir) {
      const kind = TYPE_NAMES[typeflag] ?? `entry type ${JSON.stringify(typeflag)}`;
      fail(`entry ${JSON.stringify(name)} is a ${kind}; only regular files and directories are extracted`);
    }
    const rel = safeRelativePath(name, fail);
    if (isDir) {
      if (rel !== '') await mkdir(join(root, rel), { recursive: true });
      if (padded > 0) await skip(reader, padded, name, fail);
      continue;
    }
    if (rel === '' || name.endsWith('/')) fail(`entry ${JSON.stringify(name)} is a regular file with a folder's name`);
    const target = join(root, rel);
    const inside = relative(root, resolve(target));
    if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) fail(`entry ${JSON.stringify(name)} would be written outside ${root}`);
    await mkdir(dirname(target), { recursive: true });
    const fh = await open(target, 'w', 0o644);
    try {
      let left = size;
      while (left > 0) {
        const chunk = await reader.readSome(Math.min(left, 1 << 20));
        if (chunk.length === 0) fail(`truncated: the archive ends inside ${JSON.stringify(name)} (${size - left} of ${size} bytes)`);
        await fh.write(chunk);
        left -= chunk.length;
      }
    } finally {
      await fh.close();
    }
    if (padded > size) await skip(reader, padded - size, name, fail);
    files.push(rel);
  }
}

const TYPE_NAMES: Record<string, string> = {
  '1': 'hard link',
  '2': 'symbolic link',
  '3': 'character device',
  '4': 'block device',
  '6': 'FIFO',
};

async function skip(reader: ByteReader, n: number, name: string, fail: (what: string) => never): Promise<void> {
  let left = n;
  while (left > 0) {
    const chunk = await reader.readSome(left);
    if (chunk.length === 0) fail(`truncated: the archive ends inside ${JSON.stringify(name)}`);
    left -= chunk.length;
  }
}

/** The '/'-joined relative path an entry name stands for ('' for the root); refuses escapes. */
function safeRelativePath(name: string, fail: (what: string) => never): string {
  if (name.startsWith('/') || win32.isAbsolute(name) || /^[A-Za-z]:/.test(name)) {
    fail(`entry ${JSON.stringify(name)} has an absolute path; refusing to extract it`);
  }
  // a backslash separates components on Windows: no '..' there either
  if (name.split(/[/\\]/).includes('..')) {
    fail(`entry ${JSON.stringify(name)} has a '..' component; refusing to extract it`);
  }
  return name
    .split('/')
    .filter((p) => p !== '' && p !== '.')
    .join('/');
}

function checkHeaderChecksum(header: Buffer, index: number, fail: (what: string) => never): void {
  const stored = parseNumber(header, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : header[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) {
    fail(`header ${index} has a bad checksum (not a tar archive, or corrupt)`);
  }
}

function cString(buf: Buffer, offset: number, length: number): string {
  const end = buf.indexOf(0, offset);
  return buf.toString('utf8', offset, end < 0 || end > offset + length ? offset + length : end);
}

/** An octal number field (NUL/space terminated), or GNU base-256 when the top bit is set. */
function parseNumber(buf: Buffer, offset: number, length: number): number {
  if (buf[offset]! & 0x80) {
    let v = buf[offset]! & 0x7f;
    for (let i = 1; i < length; i++) v = v * 256 + buf[offset + i]!;
    return v;
  }
  const text = buf.toString('latin1', offset, offset + length).replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return NaN;
  return parseInt(text, 8);
}

/** pax records: "<len> <key>=<value>\n" */
function parsePax(bytes: Buffer, index: number, fail: (what: string) => never): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < bytes.length && bytes[at] !== 0) {
    const space = bytes.indexOf(0x20, at);
    const len = space < 0 ? NaN : Number(bytes.toString('latin1', at, space));
    if (!Number.isSafeInteger(len) || len <= 0 || at + len > bytes.length) fail(`entry ${index} has a malformed pax header`);
    const record = bytes.toString('utf8', space + 1, at + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += len;
  }
  return out;
}
