/**
 * What a pre-training run is asked to do besides the trainer's options (TrainOptions.pretrain,
 * kept in config.json, so `--resume` and `train --pretrained RUN` know the run).
 */
import type { MaeDecoderOptions } from './model.js';

export interface PretrainSpec extends MaeDecoderOptions {
  readonly method: 'mae';
  /** fraction of patches masked per image, in (0, 1) */
  readonly maskRatio: number;
  /** the target is each patch's pixels normalised by the patch's mean and variance */
  readonly normPixLoss: boolean;
  /** MAE's base learning rate: lr = blr × batch / 256 */
  readonly blr: number;
}
