/**
 * Model sources that need files or the network (package.json `imports` "#platform/model-files"):
 * published pretrained weights from the torch hub or Tessera's cache, and checkpoint files. The browser build resolves this module to ../browser/model-files.ts.
 */
export { findPretrainedFile, loadPretrainedInto } from '../../models/pretrained.js';
