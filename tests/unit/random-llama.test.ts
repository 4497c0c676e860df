/**
 * scripts/make-random-llama.ts: its files load as the Hugging Face checkpoints they imitate
 * (every tensor read, none missing: the loader refuses both), and its default is SmolLM2-135M's
 * shape, parameter for parameter.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/model/checkpoint';
import { parseConfig } from '../../src/model/config';
import { disposeModel, runForward } from '../../src/model/model';
import { toNested } from '../../src/model/trace';
import {
  llamaTensorShapes,
  randomLlamaCheckpoint,
  SMOLLM2_135M_CONFIG,
} from '../../scripts/make-random-llama';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';

beforeAll(async () => {
  await useFastestNodeBackend();
});

/** SMOLLM2_135M_CONFIG cut down to a size a test runs in milliseconds. */
const tiny = (overrides: Record<string, unknown>) => ({
  ...SMOLLM2_135M_CONFIG,
  vocab_size: 50,
  hidden_size: 24,
  intermediate_size: 40,
  num_hidden_layers: 2,
  num_attention_heads: 6,
  num_key_value_heads: 2,
  ...overrides,
});

describe('make-random-llama', () => {
  it("has SmolLM2-135M's 134,515,008 parameters by default", () => {
    const shapes = llamaTensorShapes(parseConfig(SMOLLM2_135M_CONFIG));
    const count = Object.values(shapes).reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
    expect(count).toBe(134_515_008);
    expect(shapes['model.layers.0.self_attn.k_proj.weight']).toEqual([192, 576]);
    expect(shapes['lm_head.weight']).toBeUndefined();
  });

  it.each([
    ['tied Llama', {}],
    ['untied Llama with attention biases', { tie_word_embeddings: false, attention_bias: true }],
    ['Qwen2 (q/k/v biases)', { model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'] }],
  ])('%s: loads and gives finite logits', async (_, overrides) => {
    const { config, safetensors } = randomLlamaCheckpoint(tiny(overrides), 'F16', 3);
    const before = tf.memory().numTensors;
    const model = loadCheckpoint(config, safetensors);
    try {
      expect(model.config.nKvHeads).toBe(2);
      const trace = await runForward(model, { ids: [1, 7, 49, 3] });
      const logits = (toNested(trace.decoder!.output!.logits!) as number[][]).flat();
      expect(logits).toHaveLength(4 * 50);
      expect(logits.every(Number.isFinite)).toBe(true);
      expect(Math.max(...logits) - Math.min(...logits)).toBeGreaterThan(0);
    } finally {
      disposeModel(model);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
