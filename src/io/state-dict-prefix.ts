/** nn.DataParallel's key prefix, shared by the checkpoint readers (./pytorch.ts) and the key filters (src/models/key-filters.ts), with no file access. */

/** The prefix nn.DataParallel / DistributedDataParallel put on every key. */
export const DATA_PARALLEL_PREFIX = 'module.';

/**
 * The prefix to strip from a state dict's keys: `module.` (nn.DataParallel) when every key has
 * it, else null. Checkpoint readers and the key filters (src/models/key-filters.ts) share it.
 *
 * @example
 *   sharedPrefixToStrip(['module.fc.weight', 'module.fc.bias']); // 'module.'
 *   sharedPrefixToStrip(['module.fc.weight', 'head.bias']);   // null
 */
export function sharedPrefixToStrip(keys: Iterable<string>): string | null {
  let any = false;
  for (const k of keys) {
    if (!k.startsWith(DATA_PARALLEL_PREFIX) || k === DATA_PARALLEL_PREFIX) return null;
    any = true;
  }
  return any ? DATA_PARALLEL_PREFIX : null;
}
