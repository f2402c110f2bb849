/**
 * torchvision's published ImageNet-1K weights as `PretrainedConfig`s: the family files list, per
 * config, the download file, the published accuracy and the evaluation transform of the `Weights`
 * entry torchvision 0.14 marks DEFAULT; this fills in what all of them share (download host,
 * licence, ImageNet mean/std, torchvision's `ImageClassification` defaults: resize 256, bilinear).
 *
 * @example
 * const w = torchvisionWeights({ file: 'resnet18-f37072fd.pth', top1: 69.758, top5: 89.078, classifier: 'fc' });
 * w.url; // 'https://download.pytorch.org/models/resnet18-f37072fd.pth'
 * w.cropFraction; // 0.875 (224 / 256)
 */
import type { PretrainedConfig } from './registry.js';

/** where torchvision publishes its weights */
export const TORCHVISION_DOWNLOADS = 'https://download.pytorch.org/models/';
export const TORCHVISION_LICENCE = 'BSD-3-Clause (torchvision); trained on ImageNet-1K';
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** one torchvision `Weights` entry, in its own terms */
export interface TorchvisionWeights {
  /** the file name under TORCHVISION_DOWNLOADS */
  readonly file: string;
  /** `_metrics` ImageNet-1K acc@1 */
  readonly top1: number;
  /** `_metrics` ImageNet-1K acc@5 */
  readonly top5: number;
  /** the classifier layer's state-dict prefix */
  readonly classifier: string;
  /** the transform's crop_size (default 224) */
  readonly cropSize?: number;
  /** the transform's resize_size (default 256, ImageClassification's) */
  readonly resizeSize?: number;
  /** default bilinear, ImageClassification's */
  readonly interpolation?: PretrainedConfig['interpolation'];
  /** default ImageNet's */
  readonly mean?: PretrainedConfig['mean'];
  /** default ImageNet's */
  readonly std?: PretrainedConfig['std'];
}

/** the PretrainedConfig of a torchvision `Weights` entry */
export function torchvisionWeights(w: TorchvisionWeights): PretrainedConfig {
  const inputSize = w.cropSize ?? 224;
  const resizeSize = w.resizeSize ?? 256;
  return {
    url: TORCHVISION_DOWNLOADS + w.file,
    licence: TORCHVISION_LICENCE,
    inputSize,
    resizeSize,
    cropFraction: inputSize / resizeSize,
    interpolation: w.interpolation ?? 'bilinear',
    mean: w.mean ?? IMAGENET_MEAN,
    std: w.std ?? IMAGENET_STD,
    classifier: w.classifier,
    top1: w.top1,
    top5: w.top5,
  };
}
