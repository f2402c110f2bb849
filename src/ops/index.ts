/** Every op module; importing this registers all ops (see `listOps`). */
export * from './registry.js';
export * from './shape-rules.js';
export * from './elementwise.js';
export * from './shape.js';
export * from './activations.js';
export * from './softmax.js';
export * from './loss.js';
export * from './dropout.js';
export * from './conv.js';
export * from './pool.js';
export * from './batchnorm.js';
export * from './linalg.js';
export * from './random.js';
export * from './layernorm.js';
export * from './tokens.js';
