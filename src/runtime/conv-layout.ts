/**
 * Which memory layout the convolutions of in-process training graphs use: standard ONNX `Conv`
 * ('nchw') or ONNX Runtime's NCHWc kernels ('nchwc', weights reordered inside the graph; see
 * src/ops/conv-nchwc.ts). The NCHWc block is MLAS's: 16 where the CPU has AVX-512F, 8 where it
 * has AVX2 (x86-64 Linux, read from /proc/cpuinfo, whose flags list only what the kernel
 * enabled); elsewhere there is none and convolutions stay standard.
 */
import { cpuinfo, environment } from '#platform/runtime';
import { UserError } from '../errors.js';

/** 'auto': the TESSERA_CONV_LAYOUT environment variable if set, else DEFAULT_CONV_LAYOUT. */
export type ConvLayout = 'nchw' | 'nchwc' | 'auto';

/** The environment variable that overrides 'auto' (values 'nchw' or 'nchwc'). */
export const CONV_LAYOUT_ENV = 'TESSERA_CONV_LAYOUT';

/** What 'auto' means without the environment variable. */
export const DEFAULT_CONV_LAYOUT: 'nchw' | 'nchwc' = 'nchwc';

/**
 * MLAS's NCHWc block size for a CPU with these /proc/cpuinfo contents, or null where it has none.
 *
 * @example
 * nchwcBlockFromCpuinfo('flags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq\n'); // → 16
 * nchwcBlockFromCpuinfo('flags\t\t: fpu sse2 avx avx2 fma\n');                  // → 8
 * nchwcBlockFromCpuinfo('Features\t: fp asimd\n');                              // → null
 */
export function nchwcBlockFromCpuinfo(cpuinfo: string): number | null {
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/));
  if (flags.has('avx512f')) return 16;
  if (flags.has('avx2')) return 8;
  return null;
}

let cpuBlock: number | null | undefined;

/** This machine's NCHWc block size (cached), or null. */
export function cpuNchwcBlock(): number | null {
  if (cpuBlock === undefined) {
    // not Linux, or a web page (WebAssembly has no NCHWc kernels): '' and no NCHWc
    cpuBlock = nchwcBlockFromCpuinfo(cpuinfo());
  }
  return cpuBlock;
}

/**
 * The NCHWc block size a graph built with `layout` uses, or null for standard convolutions.
 *
 * @example
 * nchwcBlockFor('nchw'); // → null
 */
export function nchwcBlockFor(layout: ConvLayout = 'auto'): number | null {
  const chosen = layout === 'auto' ? envLayout() ?? DEFAULT_CONV_LAYOUT : layout;
  return chosen === 'nchwc' ? cpuNchwcBlock() : null;
}

function envLayout(): 'nchw' | 'nchwc' | null {
  const v = environment(CONV_LAYOUT_ENV);
  if (v === undefined || v === '' || v === 'auto') return null;
  if (v === 'nchw' || v === 'nchwc') return v;
  throw new UserError(`${CONV_LAYOUT_ENV}=${v}: expected nchw, nchwc or auto`);
}
