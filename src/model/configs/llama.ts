/**
 * Llama-family `config.json` (LlamaForCausalLM, Qwen2ForCausalLM): RMSNorm, RoPE, SwiGLU,
 * grouped-query attention. Both forms published files use are read: transformers 4.x writes a
 * top-level `rope_theta` (and `rope_scaling`), 5.x writes `rope_parameters.rope_theta`.
 */
import {
  ConfigError,
  activation,
  bool,
  checkTokenIds,
  positiveNumber,
  optionalId,
  positiveInt,
  type Json,
  type ModelConfig,
} from '../config';
import { requireArchitecture } from './architectures';

/** θ of RoPE, refusing a scaling the lab does not implement (only plain RoPE is). */
function ropeTheta(c: Json): number {
  const params = c.rope_parameters;
  const scaling = c.rope_scaling;
  for (const [key, v] of [
    ['rope_parameters', params],
    ['rope_scaling', scaling],
  ] as const) {
    if (v === undefined || v === null) continue;
    if (typeof v !== 'object' || Array.isArray(v)) {
      throw new ConfigError(`config.json: "${key}" must be an object, got ${JSON.stringify(v)}`);
    }
    const type = (v as Json).rope_type ?? (v as Json).type ?? 'default';
    if (type !== 'default') {
      throw new ConfigError(
        `config.json: ${key} type ${JSON.stringify(type)} is not supported: Attention Lab implements plain RoPE ("default") only`,
        'unsupported-model',
      );
    }
  }
  if (params && typeof params === 'object' && 'rope_theta' in params) {
    return positiveNumber(params as Json, 'rope_theta');
  }
  return positiveNumber(c, 'rope_theta', 10000);
}

/** Qwen2's sliding-window attention is refused rather than silently run as full attention. */
function refuseSlidingWindow(c: Json): void {
  const layerTypes = Array.isArray(c.layer_types) ? c.layer_types : [];
  if (c.use_sliding_window === true || layerTypes.some((t) => t !== 'full_attention')) {
    throw new ConfigError(
      'config.json: use_sliding_window: true (sliding-window attention) is not supported: Attention Lab runs Qwen2 with full attention only',
      'unsupported-model',
    );
  }
}

export function parseLlama(c: Json, family: 'llama' | 'qwen2'): ModelConfig {
  requireArchitecture(c, family);
  if (family === 'qwen2') refuseSlidingWindow(c);
  const d = positiveInt(c, 'hidden_size');
  const nHeads = positiveInt(c, 'num_attention_heads');
  const nKvHeads = positiveInt(c, 'num_key_value_heads', nHeads);
  if (nHeads % nKvHeads !== 0) {
    throw new ConfigError(
      `config.json: ${nHeads} attention heads cannot share ${nKvHeads} key/value heads evenly`,
    );
  }
  const headDim =
    c.head_dim === undefined || c.head_dim === null ? d / nHeads : positiveInt(c, 'head_dim');
  if (!Number.isInteger(headDim)) {
    throw new ConfigError(`config.json: hidden size ${d} is not divisible by ${nHeads} heads`);
  }
  if (headDim % 2 !== 0) {
    throw new ConfigError(`config.json: head_dim ${headDim} must be even for RoPE`);
  }
  if (bool(c, 'mlp_bias', false)) {
    throw new ConfigError('config.json: mlp_bias: true is not supported', 'unsupported-model');
  }
  return checkTokenIds(
    {
      family,
      architecture: 'decoder-only',
      vocabSize: positiveInt(c, 'vocab_size'),
      dModel: d,
      nHeads,
      nLayers: positiveInt(c, 'num_hidden_layers'),
      nEncoderLayers: 0,
      dFF: positiveInt(c, 'intermediate_size'),
      contextLength: positiveInt(c, 'max_position_embeddings'),
      norm: 'pre',
      positions: 'rotary',
      activation: activation(c.hidden_act ?? 'silu'),
      layerNormEps: positiveNumber(c, 'rms_norm_eps', 1e-6),
      scaleEmbedding: false,
      finalNorm: true,
      // Qwen2 always has q/k/v biases (and none on o_proj); Llama has them on all four or none.
      attentionBias: family === 'qwen2' || bool(c, 'attention_bias', false),
      attentionOnly: false,
      tiedEmbeddings: bool(c, 'tie_word_embeddings', false),
      finalLogitsBias: false,
      padTokenId: optionalId(c, 'pad_token_id'),
      eosTokenId: optionalId(c, 'eos_token_id'),
      decoderStartTokenId: null,
      ...(headDim !== d / nHeads ? { headDim } : {}),
      nKvHeads,
      ropeTheta: ropeTheta(c),
      normKind: 'rms',
      mlp: 'gated',
    },
    'none',
  );
}
