/**
 * Registers tfjs's gradient functions for training, which runs only in Node. tfjs-core registers
 * none by itself, and its per-op registration modules are ES modules that Node cannot load from
 * the package (directory imports); the `@tensorflow/tfjs` umbrella's Node bundle is the one
 * CommonJS build that carries them, registered on the same tfjs-core instance. The app never
 * trains, so the umbrella stays out of the worker bundle (a dev dependency only).
 */
import '@tensorflow/tfjs';
