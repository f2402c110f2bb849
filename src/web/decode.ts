/** Decoding an image file or a video frame in the browser (createImageBitmap and a canvas) into Tessera's RGB pixels. */
import type { RgbImage } from '../data/transforms.js';
import { fromRgba } from './images.js';

/** The RGB pixels of an image file, or null when the browser cannot read it as an image (no colour-space conversion, alpha dropped). */
export async function decodeImage(file: Blob): Promise<RgbImage | null> {
  if (file.type && !file.type.startsWith('image/')) return null;
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    return null;
  }
  return pixelsOf(bitmap, bitmap.width, bitmap.height);
}

/** The RGB pixels of what `source` shows now (a bitmap, or a playing video's current frame), `width`×`height`. */
export function pixelsOf(source: CanvasImageSource, width: number, height: number): RgbImage {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2-D canvas');
  ctx.drawImage(source, 0, 0);
  const { data } = ctx.getImageData(0, 0, width, height);
  return fromRgba(data, width, height);
}
