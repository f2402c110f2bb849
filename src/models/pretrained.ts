/**
 * Pretrained weights: finding a config's published weights in the torch hub cache or Tessera's
 * own, downloading them (sha256-checked against torchvision's file-name prefix), and loading any
 * checkpoint file (.pth / .pt / .safetensors) into a model through the family's key filter.
 *
 * Lookup for `pretrained: true` (the config's `pretrained.url`, file name = the URL's last part):
 *  1. `$TORCH_HOME/hub/checkpoints/<file>` (TORCH_HOME defaults to `$XDG_CACHE_HOME/torch`, else
 *     `~/.cache/torch`), where `torch.hub` / torchvision put them;
 *  2. `<Tessera cache>/weights/<file>` (`$TESSERA_CACHE`, else `~/.cache/tessera`), where
 *     `downloadPretrained` puts them.
 * A file in neither is one error line naming the URL and the path to put it at.
 *
 * Loading: read the file (torch checkpoint containers and `module.` are unwrapped), map the keys
 * with the family's filter (src/models/key-filters.ts), then `loadStateDict` strictly. When the
 * model's class count differs from the checkpoint's classifier (`pretrained.classifier`, else the
 * model's last layer), the classifier keeps its fresh initialisation and a one-line notice says
 * so; anything else that does not fit is one `StateDictError` line listing it.
 *
 * @example
 * import { createModel } from 'tessera';
 * const net = createModel('resnet50', { numClasses: 10, pretrained: true, onNotice: console.log });
 * // resnet50: checkpoint classifier fc has 1000 classes, model has 10: fc re-initialised
 * const other = createModel('vit_b_16', { pretrained: 'vit_base_patch16_224.safetensors' });
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import type { HostTensor } from '../graph/ir.js';
import { defaultCacheDir, downloadFile } from '../data/download.js';
import { UserError, fsError } from '../errors.js';
import { makeDirs } from '../util/files.js';
import { CheckpointInfo, loadTorchCheckpoint } from '../io/pytorch.js';
import { readSafetensors } from '../io/safetensors.js';
import { CHECKPOINT_FORMAT, loadCheckpoint } from '../train/checkpoint.js';
import { Module, StateDictError } from '../nn/module.js';
import { KeyMapReport, describeKeyMapping, mapForeignStateDict } from './key-filters.js';
import type { ModelInfo } from './registry.js';

/** Pretrained weights that cannot be found, fetched or verified; one line saying what to do. */
export class PretrainedWeightsError extends UserError {}

/** What loading a checkpoint into a model did. */
export interface PretrainedLoad {
  /** the file read */
  readonly file: string;
  /** how a torch checkpoint was unwrapped (null for safetensors) */
  readonly checkpoint: CheckpointInfo | null;
  /** what the family's key filter did */
  readonly mapping: KeyMapReport;
  /** module prefixes left freshly initialised (the classifier when the class counts differ) */
  readonly reinitialised: string[];
  /** one-line notices for the user, also passed to `onNotice` */
  readonly notices: string[];
}

export interface PretrainedLoadOptions {
  /** receives each one-line notice (e.g. the classifier re-initialised) once the weights are loaded */
  readonly onNotice?: (line: string) => void;
}

// ---- where the weights live ---------------------------------------------------------------------

/**
 * torch.hub's checkpoint folder: `$TORCH_HOME/hub/checkpoints`, TORCH_HOME defaulting to
 * `$XDG_CACHE_HOME/torch`, else `~/.cache/torch`.
 *
 * @example
 * torchHubCheckpointDir(); // '/home/me/.cache/torch/hub/checkpoints'
 */
export function torchHubCheckpointDir(): string {
  const env = (name: string) => {
    const v = process.env[name];
    return v && v.trim() !== '' ? v : undefined;
  };
  const torchHome = env('TORCH_HOME') ?? join(env('XDG_CACHE_HOME') ?? join(homedir(), '.cache'), 'torch');
  return join(torchHome, 'hub', 'checkpoints');
}

/**
 * Tessera's weights folder: `<Tessera cache>/weights` (`$TESSERA_CACHE`, else `~/.cache/tessera`).
 *
 * @example
 * tesseraWeightsDir(); // '/home/me/.cache/tessera/weights'
 */
export function tesseraWeightsDir(): string {
  return join(defaultCacheDir(), 'weights');
}

/** The file name of a weights URL (its last path segment). */
function weightsFileName(url: string): string {
  return basename(new URL(url).pathname);
}

/**
 * The paths a config's published weights are looked for at, in order (torch hub, then Tessera).
 *
 * @example
 * pretrainedPaths(modelInfo('resnet50'));
 * // ['/home/me/.cache/torch/hub/checkpoints/resnet50-11ad3fa6.pth', '/home/me/.cache/tessera/weights/resnet50-11ad3fa6.pth']
 */
export function pretrainedPaths(info: ModelInfo): string[] {
  const url = requireUrl(info);
  const file = weightsFileName(url);
  return [join(torchHubCheckpointDir(), file), join(tesseraWeightsDir(), file)];
}

function requireUrl(info: ModelInfo): string {
  if (!info.pretrained) throw new PretrainedWeightsError(`${info.name} has no published pretrained weights; pass a checkpoint file instead (pretrained: PATH, or --pretrained FILE)`);
  return info.pretrained.url;
}

/**
 * The cached file of a config's published weights, or one error line naming the URL and the
 * path to put the file at.
 *
 * @example
 * try {
 *   console.log(findPretrainedFile(modelInfo('squeezenet1_1'))); // e.g. ~/.cache/torch/hub/checkpoints/squeezenet1_1-b8a52dc0.pth
 * } catch (e) {
 *   if (!(e instanceof PretrainedWeightsError)) throw e;
 *   console.log(e.message); // not downloaded: names the URL and where to put the file
 * }
 */
export function findPretrainedFile(info: ModelInfo): string {
  const url = requireUrl(info);
  const [hub, own] = pretrainedPaths(info);
  if (existsSync(hub)) return hub;
  if (existsSync(own)) return own;
  throw new PretrainedWeightsError(`${info.name}: pretrained weights are not downloaded; fetch ${url} and put it at ${own} (or ${hub}), or call downloadPretrained('${info.name}')`);
}

/** torchvision's rule: a file named `<name>-<hex>.<ext>` has a sha256 starting with `<hex>`. */
function expectedHashPrefix(file: string): string | null {
  return /-([a-f0-9]+)\./.exec(file)?.[1] ?? null;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface DownloadPretrainedOptions {
  /** replace the config's URL (tests point it at a local server); its file name sets the cache name */
  readonly url?: string;
  /** where the progress line goes; default process.stderr, `false` for none */
  readonly progress?: NodeJS.WritableStream | false;
  /** seconds without any data from the server before the download fails; default 60 */
  readonly timeoutSeconds?: number;
}

/**
 * Downloads a config's published weights into Tessera's weights folder (unless either cache has
 * them already) and resolves to the file's path. The sha256 must start with the hex digits in the
 * file name (torchvision's `resnet50-11ad3fa6.pth` convention); a download that fails or does not
 * match leaves nothing behind and rejects with one line.
 *
 * @example
 * import { createServer } from 'node:http';
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * // a local server stands in for download.pytorch.org, a temporary folder for ~/.cache/tessera
 * process.env.TESSERA_CACHE = mkdtempSync(join(tmpdir(), 'tessera-'));
 * const weights = serializeSafetensors(createModel('squeezenet1_1').stateDict());
 * const server = createServer((_, res) => res.end(weights)).listen(0, '127.0.0.1');
 * await new Promise((r) => server.once('listening', r));
 * const address = server.address();
 * const port = typeof address === 'object' && address ? address.port : 0;
 * const path = await downloadPretrained('squeezenet1_1', { url: `http://127.0.0.1:${port}/squeezenet1_1.safetensors`, progress: false });
 * server.close();
 * delete process.env.TESSERA_CACHE;
 * const net = createModel('squeezenet1_1', { numClasses: 10, pretrained: path });
 */
export async function downloadPretrained(name: string, opts: DownloadPretrainedOptions = {}): Promise<string> {
  // loaded here, not at the top: the registry imports this module
  const { modelInfo } = await import('./registry.js');
  const info = modelInfo(name);
  const url = opts.url ?? requireUrl(info);
  const file = weightsFileName(url);
  const hub = join(torchHubCheckpointDir(), file);
  const dest = join(tesseraWeightsDir(), file);
  if (existsSync(hub)) return hub;
  if (existsSync(dest)) return dest;
  let undoDirs: () => void;
  try {
    undoDirs = makeDirs(tesseraWeightsDir());
  } catch (e) {
    throw fsError(e, tesseraWeightsDir(), 'create the weights folder');
  }
  const partial = `${dest}.part-${process.pid}`;
  let done = false;
  try {
    try {
      await downloadFile(url, partial, { progress: opts.progress ?? process.stderr, timeoutSeconds: opts.timeoutSeconds ?? 60 });
    } catch (e) {
      throw new PretrainedWeightsError(`${name}: cannot download ${url} (${(e as Error).message}); fetch it by hand and put it at ${dest}`);
    }
    const want = expectedHashPrefix(file);
    if (want) {
      const got = await sha256File(partial);
      if (!got.startsWith(want)) throw new PretrainedWeightsError(`${name}: the download of ${url} is corrupt: its sha256 ${got.slice(0, 16)}… does not start with ${want} (from the file name); nothing was kept, try again`);
    }
    try {
      renameSync(partial, dest);
    } catch (e) {
      throw fsError(e, dest, 'write');
    }
    done = true;
    return dest;
  } finally {
    rmSync(partial, { force: true });
    // a failed download leaves no cache folder it had to create
    if (!done) undoDirs();
  }
}

// ---- loading ------------------------------------------------------------------------------------

/**
 * Reads a weights file: `.safetensors` by its header, anything else as a torch.save checkpoint
 * (zip or legacy; containers such as `state_dict`, `model` or pytorch-cifar's `net` unwrapped,
 * `module.` stripped).
 *
 * @example
 * const { tensors } = readWeightsFile('resnet50-11ad3fa6.pth');
 */
export function readWeightsFile(path: string): { tensors: Map<string, HostTensor>; checkpoint: CheckpointInfo | null } {
  if (!existsSync(path)) throw new PretrainedWeightsError(`pretrained weights ${path}: no such file`);
  if (path.endsWith('.safetensors')) {
    const file = readSafetensors(path);
    // a Tessera training checkpoint (a `tessera pretrain` run's, say): the model's weights, without its optimizer state and EMA
    if (file.metadata.format === CHECKPOINT_FORMAT) return { tensors: loadCheckpoint(path).modelState, checkpoint: null };
    return { tensors: file.tensors, checkpoint: null };
  }
  const { tensors, info } = loadTorchCheckpoint(path);
  return { tensors, checkpoint: info };
}

/** The classifier's state-dict prefix: the config's, else the model's last layer (its last key's module). */
function classifierPrefix(model: Module, info: ModelInfo | undefined): string | null {
  if (info?.pretrained) return info.pretrained.classifier;
  let last: string | undefined;
  for (const [k] of model.namedState()) last = k;
  return last?.includes('.') ? last.slice(0, last.lastIndexOf('.')) : null;
}

/** The number of classes a classifier layer has in `sd` (its weight's or bias's first dimension). */
function classCount(sd: ReadonlyMap<string, HostTensor>, prefix: string): number | null {
  const t = sd.get(`${prefix}.weight`) ?? sd.get(`${prefix}.bias`);
  return t && t.shape.length ? t.shape[0] : null;
}

/**
 * Loads a checkpoint file into `model` (built from `info`): key filter, classifier check, strict
 * load. `source` is a path, or `true` for the config's published weights from the caches.
 *
 * @example
 * const model = modelInfo('resnet18').create({ numClasses: 10 });
 * const { notices, mapping } = loadPretrainedInto(model, modelInfo('resnet18'), 'resnet18-f37072fd.pth');
 */
export function loadPretrainedInto(model: Module, info: ModelInfo, source: true | string, opts: PretrainedLoadOptions = {}): PretrainedLoad {
  const file = source === true ? findPretrainedFile(info) : source;
  const { tensors: raw, checkpoint } = readWeightsFile(file);
  const { tensors, report } = mapForeignStateDict(info.family, raw);
  const notices: string[] = [];

  const own = model.stateDict();
  const reinitialised: string[] = [];
  const prefix = classifierPrefix(model, info);
  const fromClasses = prefix === null ? null : classCount(tensors, prefix);
  const toClasses = prefix === null ? null : classCount(own, prefix);
  if (prefix !== null && fromClasses !== null && toClasses !== null && fromClasses !== toClasses) {
    // the classifier, and any other head sized by the class count (Inception's AuxLogits.fc, GoogLeNet's aux fc2)
    const heads = new Set<string>([prefix]);
    for (const [k, t] of own) {
      const c = tensors.get(k);
      if (!c || c.shape.length !== t.shape.length || c.shape[0] !== fromClasses || t.shape[0] !== toClasses) continue;
      if (c.shape.slice(1).every((d, i) => d === t.shape[i + 1])) heads.add(k.slice(0, k.lastIndexOf('.')));
    }
    for (const [k, t] of own) {
      if ([...heads].some((h) => k.startsWith(`${h}.`)) && tensors.has(k)) tensors.set(k, t);
    }
    reinitialised.push(...heads);
    notices.push(`${info.name}: checkpoint classifier ${prefix} has ${fromClasses} classes, model has ${toClasses}: ${[...heads].join(', ')} re-initialised`);
  }

  if (prefix !== null && fromClasses === null && toClasses !== null && ![...tensors.keys()].some((k) => k.startsWith(`${prefix}.`))) {
    // an encoder without a classifier (MAE's released pre-training checkpoints, a `tessera pretrain` run)
    for (const [k, t] of own) if (k.startsWith(`${prefix}.`)) tensors.set(k, t);
    reinitialised.push(prefix);
    notices.push(`${info.name}: ${file} has no classifier ${prefix} (a pre-trained encoder): ${prefix} initialised fresh`);
  }
  if (report.dropped.length) notices.push(`${info.name}: ${describeKeyMapping(report)}`);

  try {
    model.loadStateDict(tensors, { strict: true });
  } catch (e) {
    if (!(e instanceof StateDictError)) throw e;
    const how = report.layout === null ? '' : ` (after the ${report.family} key filter for ${report.layout} names)`;
    throw new StateDictError(`${info.name}: ${file} does not fit${how}; is it another model's checkpoint? ${e.message}`, e.result);
  }
  // notices only once the weights are in: a checkpoint that does not fit says so and nothing else
  for (const line of notices) opts.onNotice?.(line);
  return { file, checkpoint, mapping: report, reinitialised, notices };
}

