/** pytorch-cifar's LeNet (LeCun et al., 1998), 32x32 inputs. */
import { Value } from '../../graph/ir.js';
import { Conv2d, Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { relu } from '../../ops/activations.js';
import { maxPool2d } from '../../ops/pool.js';
import { flatten } from '../../ops/shape.js';
import { arg, defineFamily, isPositiveInt } from '../registry.js';

/** pytorch-cifar `LeNet()`: keys conv1, conv2, fc1, fc2, fc3. */
export class LeNet extends Module {
  conv1 = new Conv2d(3, 6, 5);
  conv2 = new Conv2d(6, 16, 5);
  fc1 = new Linear(16 * 5 * 5, 120);
  fc2 = new Linear(120, 84);
  fc3: Linear;

  constructor(opts: { numClasses?: number } = {}) {
    super();
    this.fc3 = new Linear(84, opts.numClasses ?? 10);
  }

  forward(x: Value): Value {
    let out = maxPool2d(relu(this.conv1.call(x)), 2);
    out = maxPool2d(relu(this.conv2.call(out)), 2);
    out = flatten(out);
    out = relu(this.fc1.call(out));
    out = relu(this.fc2.call(out));
    return this.fc3.call(out);
  }
}

// ---- registration ----------------------------------------------------------------------------

defineFamily({
  family: 'lenet',
  source: 'pytorch-cifar',
  year: 1998,
  paper: 'Gradient-Based Learning Applied to Document Recognition',
  inputSize: 32,
  numClasses: 10,
  constructors: {
    LeNet: { args: ['numClasses'], build: (args) => new LeNet({ numClasses: arg(args, 'numClasses', 10, isPositiveInt, 'a positive integer') }) },
  },
  configs: [{ name: 'cifar_lenet', reference: 'LeNet', build: (args) => new LeNet({ numClasses: args.numClasses }) }],
});
