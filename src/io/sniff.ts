/**
 * Telling the model file formats Tessera meets apart by their first bytes, so that a file given
 * where another kind is expected is named for what it is ("x.onnx is an ONNX model") instead of
 * failing inside the wrong parser ("header length 8319104485692672008 exceeds the limit").
 *
 * @example
 * import { sniffFileKind } from 'tessera';
 * sniffFileKind('resnet18-f37072fd.pth'); // 'torch-zip'
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * What a file holds: safetensors, an ONNX model (protobuf), a torch.save checkpoint (zip since
 * torch 1.6, else a legacy pickle), or none of these.
 */
export type FileKind = 'safetensors' | 'onnx' | 'torch-zip' | 'torch-legacy' | 'unknown';

/** Bytes read from the start of a file: enough for every signature below. */
const HEAD_BYTES = 16;

/**
 * The kind of a file from its first bytes (`head`, at least 9 when the file has them) and its size.
 *
 * @example
 * import { sniffBytes } from 'tessera';
 * sniffBytes(new Uint8Array([0x50, 0x4b, 0x03, 0x04]), 1000); // 'torch-zip'
 */
export function sniffBytes(head: Uint8Array, size: number): FileKind {
  if (head.length >= 9) {
    // safetensors: u64 little-endian header length, then the JSON header's "{"
    const headerLen = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
    if (headerLen <= BigInt(Math.max(0, size - 8)) && head[8] === 0x7b) return 'safetensors';
  }
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'torch-zip';
  // a pickle: PROTO opcode with protocol 2..5 (torch's legacy format starts with a pickled magic number)
  if (head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'torch-legacy';
  // an ONNX ModelProto starts with field 1, ir_version, a small varint
  if (head[0] === 0x08 && head[1] >= 1 && head[1] <= 64) return 'onnx';
  return 'unknown';
}

/**
 * The kind of the file at `path` ('unknown' too when it cannot be read: the reader that follows
 * reports that, naming the path).
 *
 * @example
 * import { sniffFileKind } from 'tessera';
 * sniffFileKind('model.onnx'); // 'onnx'
 */
export function sniffFileKind(path: string): FileKind {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = new Uint8Array(HEAD_BYTES);
    const got = readSync(fd, head, 0, HEAD_BYTES, 0);
    return sniffBytes(head.subarray(0, got), fstatSync(fd).size);
  } catch {
    return 'unknown';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
