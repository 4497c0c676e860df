/** Node-only helpers: load a checkpoint folder from disk and pick the fastest tfjs backend. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { loadCheckpoint } from '../../src/model/checkpoint';
import { halveWeights } from '../../src/model/halfWeights';
import { installWasmKernels } from '../../src/model/wasmKernels';
import type { Model } from '../../src/model/model';

/** Switch to `backend` (with the project's wasm kernels on wasm); throws where it cannot start. */
export async function useNodeBackend(backend: 'wasm' | 'cpu'): Promise<void> {
  if (!(await tf.setBackend(backend))) throw new Error(`the ${backend} backend did not start`);
  await tf.ready();
  if (backend === 'wasm') installWasmKernels();
}

/** wasm is about 13× faster than the plain cpu backend here; fall back to cpu where it fails. */
export async function useFastestNodeBackend(): Promise<string> {
  try {
    await useNodeBackend('wasm');
    return 'wasm';
  } catch {
    // wasm unavailable: the cpu backend below always works
  }
  await useNodeBackend('cpu');
  return 'cpu';
}

export function readModelDir(dir: string): Model {
  const configPath = join(dir, 'config.json');
  const weightsPath = join(dir, 'model.safetensors');
  if (!existsSync(configPath)) throw new Error(`${dir} has no config.json`);
  if (!existsSync(weightsPath)) throw new Error(`${dir} has no model.safetensors`);
  const config: unknown = JSON.parse(readFileSync(configPath, 'utf8'));
  const model = loadCheckpoint(config, new Uint8Array(readFileSync(weightsPath)));
  halveWeights(model.params); // as the app's worker does on wasm
  return model;
}
