/**
 * A random checkpoint under Marian's own tensor names (`MarianMTModel`: `model.shared.weight`,
 * `model.{encoder,decoder}.layers.{i}.self_attn.q_proj.weight` `[out, in]`, …), for loading
 * through the `marian` path with a tokenizer of matching vocabulary. `randomCheckpoint` of
 * make-random-gpt2.ts writes GPT-2's names, which a `marian` config does not read.
 */
import { Rng } from '../../src/model/random';
import { writeSafetensors } from '../../src/model/safetensors';

export const MARIAN_SPM_CONFIG = {
  model_type: 'marian',
  vocab_size: 1222,
  d_model: 32,
  encoder_layers: 2,
  decoder_layers: 2,
  encoder_attention_heads: 4,
  decoder_attention_heads: 4,
  encoder_ffn_dim: 64,
  decoder_ffn_dim: 64,
  max_position_embeddings: 128,
  activation_function: 'swish',
  scale_embedding: true,
  share_encoder_decoder_embeddings: true,
  // The ids of tests/unit/data/spm/vocab.json: </s> 0, <pad> 1221.
  eos_token_id: 0,
  pad_token_id: 1221,
  decoder_start_token_id: 1221,
};

type Tensors = Record<string, { shape: number[]; data: Float32Array }>;

/** Seeded normal(0, std) values. */
function normals(seed: number): (n: number, std: number) => Float32Array {
  const rng = new Rng(seed);
  return (n, std) => Float32Array.from({ length: n }, () => rng.normal() * std);
}

/** `model.safetensors` bytes for a Marian config (as `MARIAN_SPM_CONFIG`'s keys). */
export function randomMarianSafetensors(config: typeof MARIAN_SPM_CONFIG, seed = 5): Uint8Array {
  const normal = normals(seed);
  const { vocab_size: vocab, d_model: d, encoder_ffn_dim: ff } = config;
  const tensors: Tensors = {};
  const put = (name: string, shape: number[], std: number, mean = 0) => {
    const data = normal(
      shape.reduce((a, b) => a * b, 1),
      std,
    ).map((v) => v + mean);
    tensors[name] = { shape, data };
  };
  const linear = (name: string, out: number, inp: number) => {
    put(`${name}.weight`, [out, inp], 0.2);
    put(`${name}.bias`, [out], 0.02);
  };
  const norm = (name: string) => {
    put(`${name}.weight`, [d], 0.05, 1);
    put(`${name}.bias`, [d], 0.02);
  };
  const attention = (name: string) => {
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(`${name}.${p}`, d, d);
  };
  put('model.shared.weight', [vocab, d], 0.3);
  put('final_logits_bias', [1, vocab], 0.1);
  for (const stack of ['encoder', 'decoder'] as const) {
    const layers = stack === 'encoder' ? config.encoder_layers : config.decoder_layers;
    for (let i = 0; i < layers; i++) {
      const l = `model.${stack}.layers.${i}`;
      attention(`${l}.self_attn`);
      norm(`${l}.self_attn_layer_norm`);
      linear(`${l}.fc1`, ff, d);
      linear(`${l}.fc2`, d, ff);
      norm(`${l}.final_layer_norm`);
      if (stack === 'decoder') {
        attention(`${l}.encoder_attn`);
        norm(`${l}.encoder_attn_layer_norm`);
      }
    }
  }
  return writeSafetensors(tensors);
}
