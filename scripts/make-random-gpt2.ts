/**
 * Writes a random checkpoint in GPT-2's layout: by default GPT-2 small's shape (12 layers, 768
 * wide, 12 heads, 50257 tokens, 1024 positions) into tmp/gpt2-small-random/ (git-ignored), for
 * the bench. Its numbers are noise: it measures speed and memory, never quality.
 *
 *   npx tsx scripts/make-random-gpt2.ts [--out DIR] [--dtype f32|f16]
 *
 * The tests import `randomCheckpoint` to make tiny models of any architecture.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { saveCheckpoint } from '../src/model/saveCheckpoint';
import { parseConfig } from '../src/model/config';
import { initModel } from '../src/model/init';
import { disposeModel } from '../src/model/model';
import { useFastestNodeBackend } from './lib/node-model';

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
  const args = process.argv.slice(2);
  const option = (name: string, fallback: string) => {
    const at = args.indexOf(name);
    return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
  };
  const out = resolve(option('--out', 'tmp/gpt2-small-random'));
  const dtype = option('--dtype', 'f16').toUpperCase();
  if (dtype !== 'F32' && dtype !== 'F16') throw new Error('--dtype must be f32 or f16');
  await useFastestNodeBackend();
  const started = Date.now();
  const { config, safetensors } = randomCheckpoint(GPT2_SMALL_CONFIG, dtype);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeFileSync(join(out, 'model.safetensors'), safetensors);
  const mb = (safetensors.byteLength / 2 ** 20).toFixed(0);
  console.log(
    `wrote ${out} (${mb} MiB, ${dtype}) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href)
  void main();
