/**
 * Layer ids for layer-wise learning-rate decay (`--layer-decay`) shared by families whose
 * torchvision layout is `features` = [stem, stage, downsampling, stage, …] (Swin, ConvNeXt).
 * Each family names its rule in its `defineFamily` declaration (`layerIds`).
 */
import type { Module } from '../nn/module.js';
import type { LayerIds } from './registry.js';

/**
 * timm's fine-grained groups (its `group_matcher(coarse=False)` for Swin and ConvNeXt) in
 * torchvision's key names: the stem `features.0.*` is layer 0; block j of the stage
 * `features.(2s+1)` is the next id in depth order (1, 2, …); the downsampling `features.(2s)`
 * between two stages shares the id of the following stage's first block (timm places it at the
 * start of that stage); everything else (final norm, head) is the last layer.
 *
 * @example
 * const ids = stagedLayerIds(createFromConstructor('SwinTransformer', { patchSize: [4, 4], embedDim: 16, depths: [2, 2], numHeads: [2, 4], windowSize: [4, 4] }));
 * [ids.numLayers, ids.layerId('features.0.0.weight'), ids.layerId('features.1.1.norm1.weight'), ids.layerId('features.2.reduction.weight'), ids.layerId('head.weight')]; // → [6, 0, 2, 3, 5]
 */
export function stagedLayerIds(model: Module): LayerIds {
  const features = model.namedChildren().find(([name]) => name === 'features')?.[1];
  if (!features) throw new Error(`${model.constructor.name}: stagedLayerIds needs a "features" child`);
  const stages = features.namedChildren();
  /** features index of a stage → the layer id of its first block */
  const firstBlock = new Map<number, number>();
  let next = 1;
  stages.forEach(([, stage], i) => {
    if (i % 2 === 0) return;
    firstBlock.set(i, next);
    next += stage.namedChildren().length;
  });
  const last = next;
  return {
    numLayers: last + 1,
    layerId(key) {
      const m = /^features\.(\d+)\.(?:(\d+)\.)?/.exec(key);
      if (!m) return last;
      const i = Number(m[1]);
      if (i === 0) return 0;
      if (i % 2 === 1) return (firstBlock.get(i) ?? last) + Number(m[2] ?? 0);
      return firstBlock.get(i + 1) ?? last;
    },
  };
}
