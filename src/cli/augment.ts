/**
 * `tessera augment IMAGE... --op "CALL" --out DIR`: writes each image transformed by one
 * torchvision functional call (Python syntax, src/augment/op-table.ts) as a PNG, to check an
 * augmentation before a long run; `--aa POLICY --seed N --n K` writes K random draws of a policy
 * (src/augment/preview.ts). Images are decoded with sharp at their own size (alpha removed,
 * sRGB); outputs are named after the input and the call.
 */
import { basename, extname, join } from 'node:path';
import type { RgbImage } from '../data/transforms.js';
import { decodeImageFile } from '../data/worker.js';
import { OpCallError } from '../augment/call.js';
import { OP_TABLE, opCall, signatureText } from '../augment/op-table.js';
import { makeDirs, writeFileAtomic } from '../util/files.js';
import { policyPreview } from '../augment/preview.js';
import { CliCommand, UsageError, defineCommand, readCommandLine, type OptionValues } from './args.js';

const opList = () => OP_TABLE.map((op) => `  ${signatureText(op)}\n      ${op.summary}`).join('\n');

/** How `tessera augment` is called: its options, help and checks. */
export const AUGMENT = defineCommand({
  name: 'augment',
  usage: 'IMAGE... --op CALL | --aa POLICY [--seed N --n K] --out DIR',
  description: `Writes each IMAGE transformed by CALL, one torchvision.transforms.functional call in Python
syntax without the image (or with any name standing for it: rotate(img, 30)), as DIR/NAME_CALL.png:
  --op "rotate(angle=30, interpolation='nearest')"
  --op "affine(angle=0, translate=[3, -2], scale=1.0, shear=[15.0, 0.0])"
  --op "resize(size=[48, 40], interpolation=InterpolationMode.BICUBIC, antialias=True)"
The ops compute exactly what torchvision 0.14 computes on a uint8 tensor (up to rounding ties).`,
  positionals: { name: 'IMAGE', min: 1 },
  options: {
    op: { kind: 'string', placeholder: 'CALL', help: 'one torchvision functional call, e.g. "posterize(bits=3)" (ops below)' },
    aa: { kind: 'string', placeholder: 'POLICY', help: `an augmentation policy, as tessera train --aa takes it (e.g. ta_wide,\nrand-m9-mstd0.5-inc1); draw k of image i is what epoch k of a run with --seed draws for sample i` },
    out: { kind: 'path', placeholder: 'DIR', required: true, help: 'the folder to write the PNGs to (created if missing)' },
    seed: { kind: 'int', min: 0, default: 0, placeholder: 'N', help: 'seed of random draws (random policies; an --op call draws nothing)' },
    n: { kind: 'int', min: 1, default: 1, placeholder: 'K', help: 'random draws per image (random policies; an --op call is one image)' },
  },
  notes: () => `ops (torchvision's names and argument order; values: numbers, [lists], 'strings', True/False/None):\n${opList()}\n\nexit status: 0 written, 2 usage or input error (a bad call, an unreadable image): nothing is written then`,
});

type AugmentOptions = OptionValues<typeof AUGMENT.options>;

/** What turns one decoded image into previews: a file-name label and `draws` images per input. */
interface Augmenter {
  readonly label: string;
  readonly draws: number;
  readonly apply: (img: RgbImage, imageIndex: number, draw: number) => RgbImage;
}

function commandError(e: unknown): unknown {
  return e instanceof OpCallError ? new UsageError(`tessera augment: --op: ${e.message}`) : e;
}

/** `--op CALL`: deterministic, one image per input; --seed and --n have nothing to draw. */
function opAugmenter(text: string, given: ReadonlySet<string>): Augmenter {
  const stray = ['seed', 'n'].filter((k) => given.has(k));
  if (stray.length) throw new UsageError(`tessera augment: --${stray.join(' and --')}: for random draws; an --op call is deterministic (drop ${stray.length === 1 ? 'it' : 'them'})`);
  let call;
  try {
    call = opCall(text);
  } catch (e) {
    throw commandError(e);
  }
  const label = [call.op.name, ...call.given.map(([, v]) => v.replace(/[[\]' ]/g, '').replace(/[^A-Za-z0-9.,+-]/g, '_'))].join('_');
  return { label, draws: 1, apply: (img) => call.apply(img) };
}

function augmenterFor(opts: AugmentOptions, given: ReadonlySet<string>): Augmenter {
  if (opts.op !== undefined && opts.aa !== undefined) throw new UsageError('tessera augment: give either --op CALL or --aa POLICY, not both');
  if (opts.op !== undefined) return opAugmenter(opts.op, given);
  if (opts.aa !== undefined) return { ...policyPreview(opts.aa, opts.seed, 'tessera augment: --aa'), draws: opts.n };
  throw new UsageError('tessera augment: --op CALL is required, or --aa POLICY (see tessera augment --help)');
}

/** The output file of draw `draw` of `image`, named after the input and the augmentation. */
function outputName(image: string, aug: Augmenter, draw: number): string {
  const stem = basename(image, extname(image));
  return `${stem}_${aug.label}${aug.draws > 1 ? `_${draw}` : ''}.png`;
}

/** Encodes a channel-planar image as PNG bytes. */
async function encodePng(img: RgbImage): Promise<Uint8Array> {
  const sharp = (await import('sharp')).default;
  const n = img.width * img.height;
  const hwc = Buffer.alloc(3 * n);
  for (let p = 0; p < n; p++) for (let c = 0; c < 3; c++) hwc[3 * p + c] = img.data[c * n + p];
  return sharp(hwc, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
}

/**
 * Runs `tessera augment`; resolves to the exit status. Every image is decoded and transformed
 * before the first file is written.
 *
 * @example
 * await augmentCommand(['cat.jpg', '--op', 'posterize(bits=3)', '--out', 'previews']); // previews/cat_posterize_3.png
 */
export async function augmentCommand(argv: readonly string[]): Promise<number> {
  const parsed = readCommandLine(AUGMENT, argv);
  if (!parsed) return 0;
  const { opts, positionals: images } = parsed;
  const aug = augmenterFor(opts, new Set(parsed.given.keys()));
  const outputs = new Map<string, { readonly image: string; readonly png: Uint8Array }>();
  for (const [index, image] of images.entries()) {
    const img = await decodeImageFile(image);
    for (let draw = 0; draw < aug.draws; draw++) {
      const name = outputName(image, aug, draw);
      const clash = outputs.get(name);
      if (clash) throw new UsageError(`tessera augment: ${clash.image} and ${image} would both be written as ${name}; give images with different names`);
      let result: RgbImage;
      try {
        result = aug.apply(img, index, draw);
      } catch (e) {
        throw commandError(e);
      }
      outputs.set(name, { image, png: await encodePng(result) });
    }
  }
  makeDirs(opts.out);
  for (const [name, { png }] of outputs) {
    writeFileAtomic(join(opts.out, name), png);
    process.stdout.write(`${join(opts.out, name)}\n`);
  }
  return 0;
}

/** `tessera augment` as `main` runs it. */
export const command: CliCommand = { declaration: AUGMENT, run: augmentCommand };
