/**
 * Writes a random checkpoint in GPT-2's layout: by default GPT-2 small's shape (12 layers, 768
 * wide, 12 heads, 50257 tokens, 1024 positions) into tmp/gpt2-small-random/ (git-ignored), for
 * the bench. Its numbers are noise: it measures speed and memory, never quality.
 *
 *   npx tsx scripts/make-random-gpt2.ts [--out DIR] [--dtype f32|f16]
 *
 * The tests import `randomCheckpoint` to make tiny models of any architecture.
 */
import { saveCheckpoint } from '../src/model/saveCheckpoint';
import { parseConfig } from '../src/model/config';
import { initModel } from '../src/model/init';
import { disposeModel } from '../src/model/model';
import { useFastestNodeBackend } from './lib/node-model';
import { isEntryPoint, writeRandomCheckpoint } from './lib/randomCheckpointCli';

export const GPT2_SMALL_CONFIG = {
  model_type: 'gpt2',
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  activation_function: 'gelu_new',
  layer_norm_epsilon: 1e-5,
  bos_token_id: 50256,
  eos_token_id: 50256,
};

/**
 * `config.json` contents and `model.safetensors` bytes of a freshly initialised model (GPT-2's
 * initialisation, seeded). The config is kept as given: a `gpt2` config stays one, so the app
 * pairs it with GPT-2's tokenizer; the tensors carry GPT-2's names either way.
 */
export function randomCheckpoint(
  configJson: Record<string, unknown>,
  dtype: 'F32' | 'F16' = 'F32',
  seed = 1,
): { config: Record<string, unknown>; safetensors: Uint8Array } {
  const model = initModel(parseConfig(configJson), seed);
  try {
    return { config: configJson, safetensors: saveCheckpoint(model, dtype).safetensors };
  } finally {
    disposeModel(model);
  }
}

async function main(): Promise<void> {
  await writeRandomCheckpoint('tmp/gpt2-small-random', async (dtype) => {
    await useFastestNodeBackend();
    return randomCheckpoint(GPT2_SMALL_CONFIG, dtype);
  });
}

if (isEntryPoint(import.meta.url)) void main();
