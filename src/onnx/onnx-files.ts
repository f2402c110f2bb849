/**
 * ONNX models with external data on disk (Node only; the browser build has no file system):
 * writing a model and its side file together so that both or neither appear, handing ONNX Runtime
 * a model that needs a path (its side file is found beside it), and reading a side file's ranges.
 * The format itself: src/onnx/external-data.ts.
 *
 * @example
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * const path = join(mkdtempSync(join(tmpdir(), 'tessera-')), 'lenet.onnx');
 * const files = exportInferenceFiles(createModel('cifar_lenet'), { inputShape: [1, 3, 32, 32], externalDataThreshold: 0, externalDataLocation: 'lenet.onnx.data' });
 * const staged = stageOnnxFiles(path, files);
 * try {
 *   staged.commit(); // lenet.onnx and lenet.onnx.data
 * } finally {
 *   staged.discard();
 * }
 */
import { closeSync, fstatSync, mkdirSync, mkdtempSync, openSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fsError } from '../errors.js';
import { AtomicWriteOptions, StagedFile, stageFile } from '../util/files.js';
import type { ExternalDataFile, OnnxFiles } from './external-data.js';

/** Writes a side file: each piece at its offset (the gaps read as zeros), through one descriptor. */
function writeExternalData(path: string, file: ExternalDataFile): void {
  const fd = openSync(path, 'w');
  try {
    for (const { offset, bytes } of file.pieces) {
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, offset + done);
    }
  } finally {
    closeSync(fd);
  }
}

/** Writes `files` into the folder `dir`: the model as `modelName`, its side file under its location. */
function writeInto(dir: string, modelName: string, files: OnnxFiles, io: AtomicWriteOptions, names: { model: string; data: string }): void {
  const data = files.externalData;
  if (data) {
    mkdirSync(dirname(join(dir, data.location)), { recursive: true });
    try {
      writeExternalData(join(dir, data.location), data);
    } catch (e) {
      throw fsError(e, names.data, 'write');
    }
  }
  try {
    (io.writeFile ?? writeFileSync)(join(dir, modelName), files.model);
  } catch (e) {
    throw fsError(e, names.model, 'write');
  }
}

/**
 * Writes a model to `path` the way `stageFile` writes one file: a model without a side file is
 * `stageFile(path, model)`; one with a side file goes to a temporary folder beside `path`
 * (`path.tmp-<pid>/`, the side file named by its location), so that ONNX Runtime can check it
 * at `tmp` with its side file found; `commit()` renames the side file, then the model, into
 * place; `discard()` removes the folder. A failed write leaves nothing behind.
 */
export function stageOnnxFiles(path: string, files: OnnxFiles, io: AtomicWriteOptions = {}): StagedFile {
  const data = files.externalData;
  if (!data) return stageFile(path, files.model, io);
  const folder = `${path}.tmp-${process.pid}`;
  const dataPath = join(dirname(path), data.location);
  let pending = true;
  const discard = () => {
    if (pending) rmSync(folder, { recursive: true, force: true });
    pending = false;
  };
  try {
    mkdirSync(folder);
    writeInto(folder, basename(path), files, io, { model: path, data: dataPath });
  } catch (e) {
    discard();
    throw fsError(e, path, 'write');
  }
  const commit = () => {
    try {
      renameSync(join(folder, data.location), dataPath);
    } catch (e) {
      discard();
      throw fsError(e, dataPath, 'write');
    }
    try {
      renameSync(join(folder, basename(path)), path);
    } catch (e) {
      rmSync(dataPath, { force: true }); // neither file, rather than a side file without its model
      discard();
      throw fsError(e, path, 'write');
    }
    discard();
  };
  return { tmp: join(folder, basename(path)), commit, discard };
}

/**
 * Runs `use` on the path of `files` written to a fresh temporary folder (the model as
 * model.onnx, its side file beside it), then removes the folder: for ONNX Runtime, which reads
 * external data from beside a model file only.
 */
export async function withModelFiles<T>(files: OnnxFiles, use: (modelPath: string) => Promise<T>): Promise<T> {
  const folder = mkdtempSync(join(tmpdir(), 'tessera-onnx-'));
  try {
    const modelPath = join(folder, 'model.onnx');
    writeInto(folder, 'model.onnx', files, {}, { model: modelPath, data: join(folder, files.externalData?.location ?? '') });
    return await use(modelPath);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** `length` bytes of the file at `path` from `offset` (null: to the end); throws a RangeError where the file is shorter. */
export function readFileRange(path: string, offset: number, length: number | null): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const want = length ?? size - offset;
    if (offset + want > size) throw new RangeError(`bytes ${offset} to ${offset + want} asked for, the file has ${size}`);
    const out = new Uint8Array(want);
    for (let done = 0; done < want; ) {
      const n = readSync(fd, out, done, want - done, offset + done);
      if (n === 0) throw new RangeError(`the file ended at byte ${offset + done} of ${offset + want}`);
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
