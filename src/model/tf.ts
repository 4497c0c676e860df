/**
 * tfjs-core with its chained tensor methods registered (`x.add(y)`, `q.matMul(k, false, true)`),
 * so the model code reads like the lecture's formulas. tfjs-core registers them only on request
 * (the `@tensorflow/tfjs` umbrella did it for us, but it also brings layers, data and the
 * converter into the worker). Every model module imports tf from here.
 */
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';

export * from '@tensorflow/tfjs-core';
