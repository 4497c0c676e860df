/**
 * Which weight files a checkpoint folder has, read in the order the Hub's repositories use them:
 * `model.safetensors`; else `model.safetensors.index.json` and its shards, merged as they arrive;
 * else `pytorch_model.bin`. The budget holds for the whole checkpoint, shards together.
 */
import { formatBytes } from '../model/formatBytes';
import { parsePytorchBin, PytorchBinError } from '../model/pytorchBin';
import type { SafetensorsFile } from '../model/safetensors';
import { parseShardIndex, ShardAssembler, ShardError } from '../model/shards';
import { EngineError, parseJsonFile } from './engineErrors';
import { ModelFileError, tooLarge } from './fetchErrors';
import { WEIGHTS, type ModelFiles, type StageProgress } from './modelFiles';
import type { WeightsOrigin } from './protocol';

const SHARD_INDEX = 'model.safetensors.index.json';
const PYTORCH_BIN = 'pytorch_model.bin';
const PYTORCH_BIN_INDEX = 'pytorch_model.bin.index.json';

export interface CheckpointWeights {
  /** The weights as the checkpoint loader reads them. */
  file: Uint8Array | SafetensorsFile;
  /** Bytes read from the weight files, all of them. */
  fileBytes: number;
  from: WeightsOrigin;
}

/** The checkpoint's weights; throws what is missing, too large or broken (the load then fails). */
export async function readCheckpointWeights(
  files: ModelFiles,
  budget: number,
  progress: StageProgress,
): Promise<CheckpointWeights> {
  const single = await optional(files.readWeights(WEIGHTS, budget, progress));
  if (single instanceof ModelFileError) return fallbacks(files, single, budget, progress);
  // Parsed as it streamed: the header is not parsed again.
  const file = single.safetensors ?? single.bytes;
  return { file, fileBytes: single.bytes.byteLength, from: single.from };
}

/** Without `model.safetensors` (`absent` says where it was looked for): shards, else a `.bin`. */
async function fallbacks(
  files: ModelFiles,
  absent: ModelFileError,
  budget: number,
  progress: StageProgress,
): Promise<CheckpointWeights> {
  const index = await files.read(SHARD_INDEX);
  if (index) return readShards(files, parseJsonFile(index, SHARD_INDEX), budget, progress);
  if (await files.read(PYTORCH_BIN_INDEX)) {
    throw new EngineError(
      'unsupported-model',
      `this checkpoint is a sharded pytorch_model.bin (${PYTORCH_BIN_INDEX}), which is not supported: use a repository or revision with model.safetensors (sharded or not) or a single ${PYTORCH_BIN}`,
    );
  }
  const bin = await optional(files.readWeights(PYTORCH_BIN, budget, progress));
  if (bin instanceof ModelFileError) {
    throw new ModelFileError(
      'missing',
      `${absent.message}; the folder has no ${SHARD_INDEX} or ${PYTORCH_BIN} either`,
    );
  }
  try {
    const file = await parsePytorchBin(bin.bytes);
    return { file, fileBytes: bin.bytes.byteLength, from: bin.from };
  } catch (e) {
    if (!(e instanceof PytorchBinError)) throw e;
    throw new EngineError('bad-model', `${PYTORCH_BIN}: ${e.message}`);
  }
}

/** The shards one after another into one file; each is dropped once copied in. */
async function readShards(
  files: ModelFiles,
  indexJson: unknown,
  budget: number,
  progress: StageProgress,
): Promise<CheckpointWeights> {
  try {
    const assembler = new ShardAssembler(parseShardIndex(indexJson));
    const { totalSize } = assembler.index;
    // total_size counts the stored bytes: float32 needs at least as many.
    if (totalSize !== null && totalSize > budget) {
      throw tooLarge(`${SHARD_INDEX} lists ${formatBytes(totalSize)} of weights`, budget);
    }
    let left = budget;
    let fileBytes = 0;
    let from: WeightsOrigin = 'cache';
    for (const shard of assembler.index.shards) {
      const read = await files.readWeights(shard, left, progress);
      left -= read.float32Bytes;
      fileBytes += read.bytes.byteLength;
      if (read.from !== 'cache') from = read.from;
      assembler.add(shard, read.safetensors ?? read.bytes);
    }
    return { file: assembler.finish(), fileBytes, from };
  } catch (e) {
    if (!(e instanceof ShardError)) throw e;
    throw new EngineError('bad-model', e.message);
  }
}

/** A weight file that may be absent: the error that says where it was looked for when it is. */
async function optional<T>(read: Promise<T>): Promise<T | ModelFileError> {
  try {
    return await read;
  } catch (e) {
    if (e instanceof ModelFileError && e.code === 'missing') return e;
    throw e;
  }
}
