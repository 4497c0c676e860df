/**
 * Loading a checkpoint: every file read, parsed and checked, and the weights uploaded, before
 * anything is handed to the engine. A load that fails at any step (a broken `training.json`
 * included) leaves nothing behind, and the engine keeps the model it had.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadCheckpoint } from '../model/checkpoint';
import { ConfigError, parseConfig, type ModelConfig } from '../model/config';
import { disposeModel, type Model } from '../model/model';
import { halveWeights } from '../model/halfWeights';
import { allTensors, parameterCount } from '../model/params';
import type { Tokenizer } from '../model/tokenizer';
import type { Matrix } from '../model/trace';
import { tokenizerForCheckpoint } from '../model/tokenizer/forCheckpoint';
import { readCheckpointWeights } from './checkpointWeights';
import { EngineError, isAbort, parseJsonFile, superseded } from './engineErrors';
import { FetchError, ModelFileError } from './fetchErrors';
import type { ModelFiles, StageProgress } from './modelFiles';
import type { ModelInfo } from './protocol';
import { uploadingEachTensor } from './upload';

export interface LoadedModel {
  model: Model;
  info: ModelInfo;
  tokenizer: Tokenizer | null;
}

/** What a load produced, not yet the engine's: the info lacks what is measured after the swap. */
export interface NewModel {
  model: Model;
  tokenizer: Tokenizer | null;
  info: Omit<ModelInfo, 'memory' | 'loadMs'>;
}

export interface LoadOptions {
  /** Most float32 weight bytes the load accepts. */
  budget: number;
  progress: StageProgress;
  /** True once a newer load was asked for: this one stops at its next step. */
  isSuperseded: () => boolean;
}

/** Read, check and build everything; throws (having freed what it made) on any problem. */
export async function loadModel(files: ModelFiles, options: LoadOptions): Promise<NewModel> {
  const configJson = parseJsonFile((await files.read('config.json', true))!, 'config.json');
  // Checked before anything big is fetched: an unsupported model costs one small request.
  const config = configOf(configJson);
  const tokenizer = await tokenizerOf(config, files);
  const trainingBytes =
    config.family === 'attention-lab' ? await files.read('training.json') : null;
  const training = trainingBytes ? parseJsonFile(trainingBytes, 'training.json') : undefined;
  const weights = await readCheckpointWeights(files, options.budget, options.progress);
  if (options.isSuperseded()) throw superseded();
  let model: Model;
  try {
    model = uploadingEachTensor((step) =>
      loadCheckpoint(configJson, weights.file, (l, t) => {
        step();
        options.progress('weights', l, t);
      }),
    );
  } catch (e) {
    throw new EngineError('bad-model', (e as Error).message);
  }
  let tokenTypeEmbeddings: Matrix | undefined;
  let halfWeights: number;
  try {
    halfWeights = halveWeights(model.params); // wasm: 16 bits where the checkpoint's values fit
    tokenTypeEmbeddings = await tokenTypeTable(model);
  } catch (e) {
    disposeModel(model);
    throw e;
  }
  if (options.isSuperseded()) {
    disposeModel(model);
    throw superseded();
  }
  const count = parameterCount(model.params);
  return {
    model,
    tokenizer,
    info: {
      name: files.name,
      config: model.config,
      tokenizer: tokenizer?.kind ?? 'ids',
      parameterCount: count,
      weightBytes: allTensors(model.params).reduce((bytes, t) => bytes + t.size * 4, 0),
      halfWeights,
      weightsFile: { bytes: weights.fileBytes, from: weights.from },
      ...(training === undefined ? {} : { training }),
      ...(tokenTypeEmbeddings ? { tokenTypeEmbeddings } : {}),
      ...(files.notices().length > 0 ? { notices: files.notices() } : {}),
    },
  };
}

/** The token-type table (BERT: 2 rows), read back once for the positions panel. */
async function tokenTypeTable(model: Model): Promise<Matrix | undefined> {
  const table = model.params.tokenTypeEmbedding;
  if (!table) return undefined;
  return { shape: table.shape, data: (await table.data()) as Float32Array };
}

/** The info of a model now in place: memory as it stands (the previous model freed). */
export function infoInPlace(info: NewModel['info'], loadMs: number): ModelInfo {
  const memory = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  return {
    ...info,
    memory: { tensorBytes: memory.numBytes, gpuBytes: memory.numBytesInGPU ?? null },
    loadMs,
  };
}

/** The parsed config, its errors as the engine reports them. */
function configOf(json: unknown): ModelConfig {
  try {
    return parseConfig(json);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new EngineError(
      e.code === 'unsupported-model' ? 'unsupported-model' : 'bad-model',
      e.message,
    );
  }
}

/** The checkpoint's tokenizer; its files' problems are the model's, not the user's text's. */
async function tokenizerOf(config: ModelConfig, files: ModelFiles): Promise<Tokenizer | null> {
  try {
    return await tokenizerForCheckpoint(config, (file) => files.read(file));
  } catch (e) {
    if (e instanceof FetchError || e instanceof ModelFileError || isAbort(e)) throw e;
    throw new EngineError('bad-model', (e as Error).message);
  }
}
