/**
 * `tessera serve --checkpoint RUN|FILE [options]`: an HTTP classification server for a training
 * checkpoint (src/serve/): TorchServe-style `POST /predictions/NAME`, the KServe v2 protocol,
 * dynamic batching, Prometheus metrics, bounded queue and bodies, graceful drain on SIGTERM.
 */
import { UserError } from '../errors.js';
import { defaultThreads } from '../runtime/ort.js';
import { parseByteSize } from '../serve/limits.js';
import { loadServedModel } from '../serve/model.js';
import { startServer } from '../serve/server.js';
import { TTA_MODES } from '../train/test-time.js';
import { CliCommand, defineCommand, readCommandLine } from './args.js';

/** How `tessera serve` is called: its options, help and checks. */
export const SERVE = defineCommand({
  name: 'serve',
  usage: '--checkpoint RUN|FILE [options]',
  description: `Serves a training checkpoint over HTTP until SIGTERM or SIGINT (then answers what it holds and exits):
POST /predictions/NAME (an image, or multipart/form-data with several; ?topk=K) answers [{label, score}];
KServe v2: GET /v2/health/live, /v2/health/ready, /v2/models/NAME, /v2/models/NAME/ready,
POST /v2/models/NAME/infer (FP32 NCHW "input", output "logits", classification extension);
GET /metrics (Prometheus). Concurrent requests are batched; images decode on worker threads.`,
  options: {
    checkpoint: { kind: 'path', placeholder: 'RUN|FILE', required: true, help: 'a run folder (its best checkpoint, else last) or a .safetensors checkpoint written by tessera train' },
    modelName: { kind: 'string', placeholder: 'NAME', help: "the model's name in the routes (default: the architecture, e.g. cifar_resnet18)" },
    port: { kind: 'int', min: 0, max: 65535, default: 8080, placeholder: 'N', help: 'TCP port (default 8080; 0: any free port, printed at start)' },
    host: { kind: 'string', default: '127.0.0.1', placeholder: 'ADDR', help: 'address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 for every interface)' },
    maxBatch: { kind: 'int', min: 1, default: 32, placeholder: 'N', help: 'images per model run (default 32)' },
    maxDelayMs: { kind: 'number', min: 0, default: 5, placeholder: 'MS', help: 'the longest an image waits for others to batch with (default 5 ms)' },
    maxQueue: { kind: 'int', min: 1, default: 256, placeholder: 'N', help: 'images admitted and not yet answered; beyond it requests get 503 with Retry-After (default 256)' },
    maxBody: { kind: 'string', default: '10MB', placeholder: 'SIZE', help: 'largest request body (default 10MB; KB/MB/GB, KiB/MiB/GiB or bytes); larger ones get 413' },
    bodyTimeout: { kind: 'number', above: 0, default: 30, placeholder: 'S', help: 'a request body must arrive whole within this many seconds, else 408 (default 30)' },
    threads: { kind: 'int', min: 1, default: defaultThreads, placeholder: 'N', help: 'ONNX Runtime threads (default: the CPU count)' },
    workers: { kind: 'int', min: 1, default: 2, placeholder: 'N', help: 'image decoding threads (default 2)' },
    ema: { kind: 'boolean', help: "serve the checkpoint's EMA weights (a run trained with --model-ema)" },
    tta: { kind: 'choice', choices: TTA_MODES, default: 'none', placeholder: 'MODE', help: 'test-time augmentation as in tessera eval (mean softmax over views): flip, flip-translate, 5crop; default none' },
  },
  notes: 'exit status: 0 drained after SIGTERM/SIGINT, 2 usage or input error (a checkpoint that does not load, a port in use)',
});

/** The largest image (width × height) the server decodes: a 50-megapixel photo passes, decompression bombs do not. */
const MAX_PIXELS = 50_000_000;

/**
 * Runs `tessera serve`; resolves to the exit status once SIGTERM or SIGINT has drained it.
 *
 * @example
 * await serveCommand(['--checkpoint', 'runs/lenet', '--port', '0']);
 */
export async function serveCommand(argv: readonly string[]): Promise<number> {
  const parsed = readCommandLine(SERVE, argv);
  if (!parsed) return 0;
  const o = parsed.opts;
  const maxBody = parseByteSize(o.maxBody, '--max-body');
  if (o.modelName !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(o.modelName)) throw new UserError(`--model-name ${o.modelName}: use letters, digits, "_", "." and "-" (it is a URL path segment)`);
  const model = await loadServedModel(o.checkpoint, { ema: o.ema, tta: o.tta, threads: o.threads });
  const name = o.modelName ?? model.architecture;
  const server = await startServer(model, {
    name,
    host: o.host,
    port: o.port,
    maxBatch: o.maxBatch,
    maxDelayMs: o.maxDelayMs,
    maxQueue: o.maxQueue,
    maxBody,
    bodyTimeoutMs: o.bodyTimeout * 1000,
    decodeWorkers: o.workers,
    maxPixels: MAX_PIXELS,
  }).catch(async (e: unknown) => {
    await model.release();
    if (e instanceof Error && 'code' in e && e.code === 'EADDRINUSE') throw new UserError(`${o.host}:${o.port} is in use; pick another --port (0: any free one)`);
    if (e instanceof Error && 'code' in e && e.code === 'EADDRNOTAVAIL') throw new UserError(`--host ${o.host}: not an address of this machine`);
    throw e;
  });
  const S = model.transform.size;
  process.stdout.write(`tessera serve: ${name} (${model.architecture}, ${model.classes.length} classes, ${S}x${S}, ${model.checkpoint}) at ${server.url}\n`);
  process.stdout.write(`  POST ${server.url}/predictions/${name}   POST ${server.url}/v2/models/${name}/infer   GET ${server.url}/metrics\n`);
  const signal = await new Promise<string>((resolve) => {
    const stop = (s: string) => {
      process.off('SIGTERM', stop).off('SIGINT', stop);
      resolve(s);
    };
    process.on('SIGTERM', stop).on('SIGINT', stop);
  });
  process.stdout.write(`tessera serve: ${signal}: draining ${server.batcher.waiting} queued image(s) and the requests in progress\n`);
  await server.drain();
  await model.release();
  process.stdout.write('tessera serve: stopped\n');
  return 0;
}

/** `tessera serve` as `main` runs it. */
export const command: CliCommand = { declaration: SERVE, run: serveCommand };
