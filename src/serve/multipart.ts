/**
 * The images of a `multipart/form-data` body (every part is one image, in order). The body is
 * already bounded by --max-body, so it is parsed whole.
 */
import { HttpError } from './limits.js';

/** One part: its declared content type (lower case, '' when none) and bytes. */
export interface Part {
  readonly contentType: string;
  readonly bytes: Uint8Array;
}

/**
 * The parts of `body` sent with `contentType` (which names the boundary); 400 on a malformed body.
 *
 * @example
 * const body = Buffer.from('--b\r\nContent-Type: image/png\r\n\r\nPNG\r\n--b--\r\n');
 * parseMultipart(body, 'multipart/form-data; boundary=b').map((p) => p.contentType); // → ['image/png']
 */
export function parseMultipart(body: Buffer, contentType: string): Part[] {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!boundary) throw new HttpError(400, 'multipart/form-data without a boundary');
  const delimiter = `--${boundary[1] ?? boundary[2]}`;
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw new HttpError(400, 'the multipart body has no part (its boundary never occurs)');
  const parts: Part[] = [];
  for (;;) {
    pos += delimiter.length;
    if (body.toString('latin1', pos, pos + 2) === '--') break;
    const headersEnd = body.indexOf('\r\n\r\n', pos);
    const next = headersEnd < 0 ? -1 : body.indexOf(`\r\n${delimiter}`, headersEnd + 4);
    if (next < 0) throw new HttpError(400, `multipart part ${parts.length + 1} is not terminated by its boundary`);
    const headers = body.toString('latin1', pos, headersEnd);
    const type = /^content-type:\s*([^;\r\n]*)/im.exec(headers);
    parts.push({ contentType: (type?.[1] ?? '').trim().toLowerCase(), bytes: body.subarray(headersEnd + 4, next) });
    pos = next + 2;
  }
  if (parts.length === 0) throw new HttpError(400, 'the multipart body has no part');
  return parts;
}
