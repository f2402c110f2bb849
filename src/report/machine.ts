/**
 * The machine a run trained on, as its report shows it: CPU model, cores, the SIMD features that
 * decide ONNX Runtime's kernels, memory, OS, Node and ONNX Runtime versions.
 */
import { readFileSync } from 'node:fs';
import { arch, cpus, platform, release, totalmem } from 'node:os';
import { ort } from '../runtime/ort.js';

/** What the report says about the machine (plain JSON). */
export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  /** AVX, FMA, AVX-512, AMX flags of /proc/cpuinfo (empty where none or unknown) */
  readonly simd: readonly string[];
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly onnxruntime: string;
}

/**
 * The SIMD features among /proc/cpuinfo's flags that select ONNX Runtime's kernels.
 *
 * @example
 * simdFlags('flags\t\t: fpu sse2 avx avx2 fma avx512f amx_tile\n'); // ['avx', 'avx2', 'fma', 'avx512f', 'amx_tile']
 */
export function simdFlags(cpuinfo: string): string[] {
  const flags = (/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/);
  return flags.filter((f) => /^(avx|fma|amx)/.test(f));
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

/**
 * This machine.
 *
 * @example
 * machineInfo().cores > 0; // → true
 */
export function machineInfo(): MachineInfo {
  const cpuinfo = readCpuinfo();
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1].trim() ?? cpus()[0]?.model ?? 'unknown';
  return {
    cpu: model,
    cores: cpus().length,
    simd: simdFlags(cpuinfo),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
  };
}
