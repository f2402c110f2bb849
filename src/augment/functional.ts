/**
 * torchvision.transforms.functional (0.14) on uint8 CHW images (`RgbImage`), names in camelCase:
 * every op matches torchvision's tensor code path (see each op for where rounding ties may differ).
 * All ops are pure: the input is never modified.
 */
export type { RgbImage } from '../data/transforms.js';
export { hflip, crop } from '../data/transforms.js';
export type { Interpolation, Fill } from './pixels.js';
export { vflip, pad, paddingSides, erase } from './geometry.js';
export type { PaddingMode, Padding } from './geometry.js';
export { resize, resizedSize } from './resize.js';
export type { ResizeOptions } from './resize.js';
export { rotate, affine, inverseAffineMatrix } from './warp.js';
export type { RotateOptions, AffineOptions, WarpInterpolation } from './warp.js';
export { invert, posterize, solarize, equalize, autocontrast, adjustBrightness, adjustContrast, adjustSaturation, adjustSharpness, adjustHue } from './color.js';
export { randomResizedCropParams, colorJitterParams, colorJitter } from './random-params.js';
export type { CropBox, ColorJitterRanges, ColorJitterParams } from './random-params.js';
