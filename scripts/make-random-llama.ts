/**
 * Writes a random checkpoint in the Hugging Face Llama layout (LlamaForCausalLM, or
 * Qwen2ForCausalLM for a qwen2 config): by default SmolLM2-135M's shape (30 layers, 576 wide,
 * 9 query heads sharing 3 key/value heads, SwiGLU 1536, 49152 tokens, tied embeddings,
 * rope_theta 100000) into tmp/smollm2-135m-random/ (git-ignored), for the bench. Its numbers are
 * noise: it measures speed and memory, never quality.
 *
 *   npx tsx scripts/make-random-llama.ts [--out DIR] [--dtype f32|f16]
 */
import { headDim, kvHeadCount, parseConfig, type ModelConfig } from '../src/model/config';
import { Rng } from '../src/model/random';
import { writeSafetensors } from '../src/model/safetensors';
import {
  isEntryPoint,
  writeRandomCheckpoint,
  type RandomCheckpoint,
} from './lib/randomCheckpointCli';

/** HuggingFaceTB/SmolLM2-135M's config.json, its shape only (no tokenizer comes with it). */
export const SMOLLM2_135M_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 49152,
  hidden_size: 576,
  intermediate_size: 1536,
  num_hidden_layers: 30,
  num_attention_heads: 9,
  num_key_value_heads: 3,
  max_position_embeddings: 8192,
  hidden_act: 'silu',
  rms_norm_eps: 1e-5,
  rope_theta: 100000,
  tie_word_embeddings: true,
  attention_bias: false,
  bos_token_id: 0,
  eos_token_id: 0,
  torch_dtype: 'float32',
};

type Shapes = Record<string, number[]>;

/**
 * Every tensor a Llama-layout file holds for `cfg`, [out, in] as torch.nn.Linear stores them:
 * the names src/model/checkpoints/llama.ts reads (with the `model.` prefix).
 */
export function llamaTensorShapes(cfg: ModelConfig): Shapes {
  const d = cfg.dModel;
  const inner = cfg.nHeads * headDim(cfg);
  const kv = kvHeadCount(cfg) * headDim(cfg);
  const qkvBias = cfg.attentionBias;
  const oBias = cfg.attentionBias && cfg.family === 'llama';
  const shapes: Shapes = { 'model.embed_tokens.weight': [cfg.vocabSize, d] };
  const linear = (name: string, out: number, inp: number, bias: boolean) => {
    shapes[`${name}.weight`] = [out, inp];
    if (bias) shapes[`${name}.bias`] = [out];
  };
  for (let i = 0; i < cfg.nLayers; i++) {
    const l = `model.layers.${i}`;
    shapes[`${l}.input_layernorm.weight`] = [d];
    linear(`${l}.self_attn.q_proj`, inner, d, qkvBias);
    linear(`${l}.self_attn.k_proj`, kv, d, qkvBias);
    linear(`${l}.self_attn.v_proj`, kv, d, qkvBias);
    linear(`${l}.self_attn.o_proj`, d, inner, oBias);
    shapes[`${l}.post_attention_layernorm.weight`] = [d];
    linear(`${l}.mlp.gate_proj`, cfg.dFF, d, false);
    linear(`${l}.mlp.up_proj`, cfg.dFF, d, false);
    linear(`${l}.mlp.down_proj`, d, cfg.dFF, false);
  }
  shapes['model.norm.weight'] = [d];
  if (!cfg.tiedEmbeddings) shapes['lm_head.weight'] = [cfg.vocabSize, d];
  return shapes;
}

/**
 * `config.json` and `model.safetensors` of a seeded random model of a Llama or Qwen2 config:
 * weights ~ N(0, 0.02²) as in src/model/init.ts, the projections into the residual stream
 * (o_proj, down_proj) scaled by 1/√(2L), RMSNorm weights 1 and biases 0.
 */
export function randomLlamaCheckpoint(
  configJson: Record<string, unknown>,
  dtype: 'F32' | 'F16' = 'F32',
  seed = 1,
): RandomCheckpoint {
  const cfg = parseConfig(configJson);
  if (cfg.mlp !== 'gated') throw new Error(`${cfg.family} is not a Llama-layout family`);
  const rng = new Rng(seed);
  const residualStd = 0.02 / Math.sqrt(2 * cfg.nLayers);
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, shape] of Object.entries(llamaTensorShapes(cfg))) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('norm.weight')) data.fill(1);
    else if (!name.endsWith('.bias')) {
      const std = /(o_proj|down_proj)\.weight$/.test(name) ? residualStd : 0.02;
      for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
    }
    tensors[name] = { shape, data };
  }
  return { config: configJson, safetensors: writeSafetensors(tensors, dtype) };
}

if (isEntryPoint(import.meta.url)) {
  void writeRandomCheckpoint('tmp/smollm2-135m-random', (dtype) =>
    randomLlamaCheckpoint(SMOLLM2_135M_CONFIG, dtype),
  );
}
