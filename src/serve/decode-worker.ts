/**
 * The decode pool's worker thread: image bytes in, the checkpoint's normalized CHW floats out
 * (`writeEvalImage`, as `tessera predict` prepares images).
 *
 * Protocol: main → worker {id, bytes}; worker → main {id, data} (transferred) or {id, error}.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { writeEvalImage } from '../data/eval-image.js';
import type { TransformSpec } from '../data/types.js';

/** Marks the workerData of a decode worker, so importing this module elsewhere starts nothing. */
export const DECODE_WORKER_KIND = 'tessera-serve-decode-worker';

export interface DecodeWorkerInit {
  readonly kind: typeof DECODE_WORKER_KIND;
  readonly spec: TransformSpec;
  readonly maxPixels: number;
}

export interface DecodeTask {
  readonly id: number;
  readonly bytes: Uint8Array;
}

export type DecodeReply = { readonly id: number; readonly data: Float32Array } | { readonly id: number; readonly error: string };

function isInit(data: unknown): data is DecodeWorkerInit {
  return typeof data === 'object' && data !== null && 'kind' in data && data.kind === DECODE_WORKER_KIND;
}

if (!isMainThread && parentPort && isInit(workerData)) {
  const port = parentPort;
  const { spec, maxPixels } = workerData;
  port.on('message', async ({ id, bytes }: DecodeTask) => {
    const data = new Float32Array(3 * spec.size * spec.size);
    try {
      await writeEvalImage({ bytes, maxPixels }, spec, data, 0);
      const reply: DecodeReply = { id, data };
      port.postMessage(reply, [data.buffer]);
    } catch (e) {
      const reply: DecodeReply = { id, error: (e instanceof Error ? e.message : String(e)).split('\n')[0] };
      port.postMessage(reply);
    }
  });
}
