/**
 * In a web page a model is built from the zoo and its weights are loaded from bytes
 * (parseSafetensors + loadStateDict): the file- and network-based sources of
 * ../node/model-files.ts say so when called.
 */
import type * as NodeModelFiles from '../node/model-files.js';

function notInBrowser(what: string): () => never {
  return () => {
    throw new Error(`${what} is not available in a web page: fetch the weights and load them with parseSafetensors and loadStateDict`);
  };
}

export const findPretrainedFile: typeof NodeModelFiles.findPretrainedFile = notInBrowser('pretrained weights from the torch hub or a cache');
export const loadPretrainedInto: typeof NodeModelFiles.loadPretrainedInto = notInBrowser('loading weights from a file');
