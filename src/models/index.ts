/** Every model family; importing this registers all configs and constructors. */
export * from './registry.js';
export * as cifarLenet from './cifar/lenet.js';
export * as cifarResnet from './cifar/resnet.js';
export * as cifarMobilenetv2 from './cifar/mobilenetv2.js';
export * as resnet from './resnet.js';
export * as mobilenetv2 from './mobilenetv2.js';
