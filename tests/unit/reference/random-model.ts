/**
 * Random checkpoints of the project's own format for the reference tests: a complete
 * `attention-lab` config.json, seeded random weights under the GPT-2 names of
 * docs/model-format.md, and the model `loadCheckpoint` builds from their safetensors bytes.
 */
import { loadCheckpoint } from '../../../src/model/checkpoint';
import type { Model } from '../../../src/model/model';
import { Rng } from '../../../src/model/random';
import { writeSafetensors } from '../../../src/model/safetensors';

export type LabConfig = Record<string, unknown>;
export type FloatTensors = Record<string, { shape: number[]; data: Float32Array }>;

/** The project's seeded generator, plus token ids: the same seed gives the same model. */
export class SeededRandom extends Rng {
  /** `n` ids, each uniform in [from, to). */
  ids(n: number, from: number, to: number): number[] {
    return Array.from({ length: n }, () => from + this.int(to - from));
  }
}

/** A small model with every config key spelled out (the reference takes no defaults). */
export function labConfig(overrides: LabConfig = {}): LabConfig {
  return {
    model_type: 'attention-lab',
    architecture: 'decoder-only',
    vocab_size: 29,
    n_embd: 16,
    n_head: 4,
    n_layer: 2,
    n_inner: 40,
    n_positions: 12,
    norm_placement: 'pre',
    position_embedding: 'learned',
    activation_function: 'gelu_new',
    layer_norm_epsilon: 1e-5,
    scale_embedding: false,
    final_layer_norm: true,
    attention_bias: true,
    attention_only: false,
    tie_word_embeddings: true,
    pad_token_id: null,
    eos_token_id: null,
    decoder_start_token_id: null,
    ...overrides,
  };
}

/**
 * Weights for every tensor the config names. Scales keep activations of order 1 so that
 * attention is neither uniform nor one-hot: embeddings N(0, 1), projections N(0, 1/in),
 * biases N(0, 0.1²), LayerNorm γ = 1 + N(0, 0.1²), β = N(0, 0.1²).
 */
export function randomWeights(cfg: LabConfig, seed: number): FloatTensors {
  const rng = new SeededRandom(seed);
  const d = cfg.n_embd as number;
  const vocab = cfg.vocab_size as number;
  const dff = cfg.n_inner as number;
  const bias = cfg.attention_bias as boolean;
  const out: FloatTensors = {};
  const put = (name: string, shape: number[], sample: () => number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    out[name] = { shape, data: Float32Array.from({ length: n }, sample) };
  };
  const linear = (name: string, inp: number, outp: number, withBias: boolean) => {
    put(`${name}.weight`, [inp, outp], () => rng.normal() / Math.sqrt(inp));
    if (withBias) put(`${name}.bias`, [outp], () => 0.1 * rng.normal());
  };
  const norm = (name: string) => {
    put(`${name}.weight`, [d], () => 1 + 0.1 * rng.normal());
    put(`${name}.bias`, [d], () => 0.1 * rng.normal());
  };

  put('wte.weight', [vocab, d], () => rng.normal());
  if (cfg.position_embedding === 'learned')
    put('wpe.weight', [cfg.n_positions as number, d], () => 0.5 * rng.normal());
  if (cfg.tie_word_embeddings === false) put('lm_head.weight', [vocab, d], () => rng.normal());
  const encDec = cfg.architecture === 'encoder-decoder';
  const stacks: [string, number, boolean][] = encDec
    ? [
        ['encoder.', cfg.n_encoder_layer as number, false],
        ['decoder.', cfg.n_layer as number, true],
      ]
    : [['', cfg.n_layer as number, false]];
  for (const [prefix, layers, cross] of stacks) {
    for (let i = 0; i < layers; i++) {
      const h = `${prefix}h.${i}`;
      norm(`${h}.ln_1`);
      linear(`${h}.attn.c_attn`, d, 3 * d, bias);
      linear(`${h}.attn.c_proj`, d, d, bias);
      if (cross) {
        norm(`${h}.ln_cross_attn`);
        linear(`${h}.crossattention.q_attn`, d, d, bias);
        linear(`${h}.crossattention.c_attn`, d, 2 * d, bias);
        linear(`${h}.crossattention.c_proj`, d, d, bias);
      }
      if (!cfg.attention_only) {
        norm(`${h}.ln_2`);
        linear(`${h}.mlp.c_fc`, d, dff, true);
        linear(`${h}.mlp.c_proj`, dff, d, true);
      }
    }
    if (cfg.final_layer_norm) norm(`${prefix}ln_f`);
  }
  return out;
}

/** Through the real file path: safetensors bytes and a JSON round trip of the config. */
export function loadWeights(cfg: LabConfig, weights: FloatTensors): Model {
  return loadCheckpoint(JSON.parse(JSON.stringify(cfg)), writeSafetensors(weights));
}

/** A random model together with what the reference needs to run it. */
export interface RandomModel {
  config: LabConfig;
  weights: FloatTensors;
  model: Model;
}

export function randomModel(config: LabConfig, seed: number): RandomModel {
  const weights = randomWeights(config, seed);
  return { config, weights, model: loadWeights(config, weights) };
}
