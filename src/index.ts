/**
 * Tessera: image classification in TypeScript. Models are written against a small graph IR,
 * differentiated into standard ONNX and trained and run by ONNX Runtime.
 *
 * @example
 * import { createModel, TrainingSession, sgd } from 'tessera';
 * const model = createModel('cifar_lenet');
 * const session = await TrainingSession.create(model, { inputShape: [4, 3, 32, 32], optimizer: sgd({ momentum: 0.9, weightDecay: 5e-4 }) });
 * const images = new Float32Array(4 * 3 * 32 * 32).fill(0.5); // NCHW, normalized pixels
 * const labels = BigInt64Array.from([0n, 1n, 2n, 3n]);
 * const { loss } = await session.step(images, labels, 0.1);
 * Number.isFinite(loss); // → true
 */
export { UserError, asUserError, describeFsError, fsError, isUserFsError } from './errors.js';
export { makeDirs, stageFile, writeFileAtomic } from './util/files.js';
export type { AtomicWriteOptions, StagedFile, WriteFile } from './util/files.js';
export { sniffBytes, sniffFileKind } from './io/sniff.js';
export type { FileKind } from './io/sniff.js';
export * from './graph/ir.js';
export * from './graph/constants.js';
export * from './ops/index.js';
export { gradients } from './autodiff/grad.js';
export { writeOnnx, OPSET } from './onnx/write.js';
export * from './nn/module.js';
export * from './nn/layers.js';
export * from './nn/init.js';
export { Trace, traceWith } from './nn/trace.js';
export * from './optim/optimizer.js';
export * from './optim/sgd.js';
export * from './optim/adamw.js';
export * from './optim/lookahead.js';
export * from './optim/clip.js';
export * from './optim/param-groups.js';
export * from './runtime/ort.js';
export * from './runtime/step-graph.js';
export * from './runtime/training-session.js';
export * from './runtime/conv-layout.js';
export * from './runtime/inference.js';
export * from './io/safetensors.js';
export * from './verify/parity.js';
export * from './models/index.js';
export { describeKeyMapping, keyFilterFor, listKeyFilters, mapForeignStateDict, toForeignLayout } from './models/key-filters.js';
export * from './data/types.js';
export { openDataset } from './data/open.js';
export { DatasetError } from './data/errors.js';
export { DataLoader } from './data/loader.js';
export { train, evaluate } from './train/trainer.js';
export { makeSchedule } from './train/schedule.js';
export { checkMixupOptions, cutmixBox, describeMixup, drawMixParams, mixImages, mixupPlugin, mixupRng, mixupTarget } from './train/mixup.js';
export type { BatchShape, Box, MixParams, MixupMode, MixupOptions } from './train/mixup.js';
export { balancedAccuracy, balancedWeights, classCounts, classWeightsFor, datasetLabels, effectiveNumberWeights, longTailCounts, longTailedSplits, parseClassWeights, sampledOrder } from './train/class-balance.js';
export type { ClassWeightsSpec, SamplerName } from './train/class-balance.js';
export { EMA_WARMUP_DEFAULTS, emaDecay, stepEma, withWeights } from './train/ema.js';
export type { ModelEmaOptions } from './train/ema.js';
export { TTA_MODES, applyView, ensembleWeights, evaluateEnsemble, ttaViews } from './train/test-time.js';
export type { EnsembleMember, EnsembleOptions, EnsembleResult, TtaMode, TtaView } from './train/test-time.js';
export { linearLr, plateauLr, totalEpochs } from './train/schedule.js';
export type { EpochScore, PlateauOptions, Schedule, ScheduleName, ScheduleOptions } from './train/schedule.js';
export { requireLayerIds, scheduleOptions, stepOptimization } from './train/optimization.js';
export { listRecipes, recipeFile, recipesDir } from './cli/recipes.js';
export { stagedLayerIds } from './models/layer-ids.js';
export { vitLayerIds } from './models/vit.js';
export { readTorchCheckpoint, TorchCheckpointError } from './io/pytorch.js';
export { writeTorchCheckpoint } from './io/torch-save.js';
export { CheckpointError } from './train/checkpoint.js';
export { countMacs } from './models/complexity.js';
export { importOnnx, OnnxModule, OnnxImportError, supportedOnnxOps } from './onnx/import.js';
export { readOnnxFile, decodeOnnx, OnnxFormatError } from './onnx/read.js';
export * as augment from './augment/functional.js';
export { opCall, OP_TABLE, signatureText } from './augment/op-table.js';
export type { OpCall, OpSignature, ArgSpec, ArgType, Unrounded } from './augment/op-table.js';
export { parseCall, OpCallError } from './augment/call.js';
export { applyPolicy } from './augment/policy.js';
export type { ApplyPolicyOptions } from './augment/policy.js';
export { parsePolicy, policyUsage } from './augment/policy-parse.js';
export type { PolicyConfig } from './augment/policy-parse.js';
export { AUTOAUGMENT_POLICIES, augmentationSpace, float32Linspace } from './augment/policy-tables.js';
export type { AutoAugmentPolicy, OpSpace, PolicyFamily, PolicyOp, PolicyStep } from './augment/policy-tables.js';
export { applyPolicyOp, augMix, autoAugment, randAugment, trivialAugmentWide } from './augment/policies.js';
export type { AugMixConfig, PolicyOptions } from './augment/policies.js';
export { TIMM_RAND_INCREASING_OPS, TIMM_RAND_OPS, applyTimmRandOp, timmRandAugment } from './augment/timm-rand.js';
export type { TimmRandConfig, TimmRandOp } from './augment/timm-rand.js';
export { solarizeAdd } from './augment/solarize-add.js';
export { sampleBeta, sampleDirichlet, sampleGamma } from './util/distributions.js';
export { randomErase } from './augment/erasing.js';
export type { ErasedBox } from './augment/erasing.js';
export { baseImage, transformSample } from './augment/pipeline.js';
export { checkTransformOptions, runTransforms } from './train/run-transforms.js';
export { policyPreview } from './augment/preview.js';
