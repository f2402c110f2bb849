/**
 * A small zip writer for the archives `torch.save` writes: stored (uncompressed) entries whose
 * data starts on a 64-byte boundary, as PyTorch's own writer aligns them (the padding is an
 * extra field with id "FB" in the local header), no zip64 (archives up to 4 GiB), fixed
 * timestamps so that the same tensors always give the same bytes.
 */
import { UserError } from '../errors.js';
import { crc32 } from './pytorch.js';

/** One file in the archive. */
export interface ZipRecord {
  /** the entry's path inside the archive, e.g. 'archive/data.pkl' */
  readonly name: string;
  readonly data: Uint8Array;
}

/** The alignment of each entry's data, as PyTorch's writer has it. */
export const ZIP_DATA_ALIGNMENT = 64;

const LOCAL_HEADER = 30;
const CENTRAL_HEADER = 46;
const END_RECORD = 22;
const EXTRA_HEADER = 4;
/** 'F', 'B' read as a little-endian u16, PyTorch's padding field id */
const PADDING_FIELD_ID = 0x4246;
/** 1980-01-01 00:00 in DOS date/time, for reproducible archives */
const DOS_DATE = 0x0021;
const DOS_TIME = 0;
const VERSION = 20;
const LIMIT_32 = 0xffffffff;

/**
 * The bytes of a zip archive holding `records` as stored entries, each entry's data aligned to
 * `ZIP_DATA_ALIGNMENT` bytes from the start of the archive; returned as chunks (the records'
 * data is not copied). More than 4 GiB or 65,535 entries would need zip64: a `UserError`.
 *
 * @example
 * const chunks = zipStoredAligned([{ name: 'archive/version', data: new TextEncoder().encode('3\n') }]);
 * chunks.reduce((n, c) => n + c.length, 0); // → 149
 */
export function zipStoredAligned(records: readonly ZipRecord[]): Uint8Array[] {
  if (records.length > 0xffff) throw new UserError(`a zip archive of ${records.length} entries needs zip64, which Tessera does not write (at most 65,535 entries)`);
  const encoder = new TextEncoder();
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const record of records) {
    const name = encoder.encode(record.name);
    const crc = crc32(record.data);
    const padding = paddingBefore(offset + LOCAL_HEADER + name.length);
    const local = new Uint8Array(LOCAL_HEADER + name.length + padding);
    const view = new DataView(local.buffer);
    view.setUint32(0, 0x04034b50, true);
    writeEntryFields(view, 4, crc, record.data.length, name.length);
    view.setUint16(28, padding, true);
    local.set(name, LOCAL_HEADER);
    if (padding) {
      const at = LOCAL_HEADER + name.length;
      view.setUint16(at, PADDING_FIELD_ID, true);
      view.setUint16(at + 2, padding - EXTRA_HEADER, true);
      local.fill(0x5a, at + EXTRA_HEADER); // 'Z', as PyTorch pads
    }
    central.push(centralEntry(name, crc, record.data.length, offset));
    chunks.push(local, record.data);
    offset += local.length + record.data.length;
    if (offset > LIMIT_32) throw new UserError(`the archive would be over 4 GiB (${record.name} ends at byte ${offset}); zip64 is not written by Tessera`);
  }
  const centralSize = central.reduce((n, c) => n + c.length, 0);
  const end = new DataView(new ArrayBuffer(END_RECORD));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, records.length, true);
  end.setUint16(10, records.length, true);
  end.setUint32(12, centralSize, true);
  end.setUint32(16, offset, true);
  return [...chunks, ...central, new Uint8Array(end.buffer)];
}

/** bytes of padding extra field needed so that data starting at `start` lands on the alignment (0, or at least its 4-byte header) */
function paddingBefore(start: number): number {
  let pad = (ZIP_DATA_ALIGNMENT - (start % ZIP_DATA_ALIGNMENT)) % ZIP_DATA_ALIGNMENT;
  if (pad > 0 && pad < EXTRA_HEADER) pad += ZIP_DATA_ALIGNMENT;
  return pad;
}

/** the fields local and central headers share, from "version needed" to the name length (26 bytes) */
function writeEntryFields(view: DataView, at: number, crc: number, size: number, nameLength: number): void {
  view.setUint16(at, VERSION, true); // version needed to extract
  view.setUint16(at + 2, 0, true); // flags
  view.setUint16(at + 4, 0, true); // method: stored
  view.setUint16(at + 6, DOS_TIME, true);
  view.setUint16(at + 8, DOS_DATE, true);
  view.setUint32(at + 10, crc, true);
  view.setUint32(at + 14, size, true); // compressed size
  view.setUint32(at + 18, size, true);
  view.setUint16(at + 22, nameLength, true);
}

function centralEntry(name: Uint8Array, crc: number, size: number, localOffset: number): Uint8Array {
  const entry = new Uint8Array(CENTRAL_HEADER + name.length);
  const view = new DataView(entry.buffer);
  view.setUint32(0, 0x02014b50, true);
  view.setUint16(4, VERSION, true); // version made by
  writeEntryFields(view, 6, crc, size, name.length);
  // extra and comment lengths, disk number, attributes: 0
  view.setUint32(42, localOffset, true);
  entry.set(name, CENTRAL_HEADER);
  return entry;
}
