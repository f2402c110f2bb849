/** Model complexity computed from the traced graph (not typed in): parameters and multiply-accumulates. */
import { getOp } from '../ops/registry.js';
import { Module } from '../nn/module.js';
import { Trace, traceWith } from '../nn/trace.js';

/**
 * Multiply-accumulates of one eval-mode forward pass of a single image (convolutions and matrix
 * products, as fvcore and thop count them).
 *
 * @example
 * countMacs(createModel('cifar_resnet18'), 32); // ≈ 5.6e8
 */
export function countMacs(model: Module, inputSize: number, channels = 3): number {
  const wasTraining = model.training;
  model.eval();
  try {
    const trace = new Trace(model, { weights: 'constants' });
    traceWith(trace, () => model.call(trace.graph.addInput('input', [1, channels, inputSize, inputSize], 'float32')));
    return trace.graph.nodes.reduce((sum, n) => sum + (getOp(n.op).macs?.(n) ?? 0), 0);
  } finally {
    model.train(wasTraining);
  }
}
