import { found } from './jsonValue';

/**
 * One configuration for the whole transformer family the lab runs: the lecture's own models,
 * GPT-2 checkpoints and Marian translation checkpoints. Checkpoint configs (Hugging Face
 * `config.json`) are normalised into this shape by `parseConfig`.
 */
import { parseBert, parseDistilBert } from './configs/bert';
import { parseGptNeo } from './configs/gptNeo';
import { parseLlama } from './configs/llama';
import { requireArchitecture, supportedList } from './configs/architectures';

export type Architecture = 'decoder-only' | 'encoder-only' | 'encoder-decoder';
export type NormPlacement = 'pre' | 'post';
/**
 * `sinusoidal` interleaves sin/cos (Vaswani et al.); `sinusoidal-split` puts all sines first
 * (Marian); `rotary` adds nothing to the input and rotates queries and keys instead (RoPE).
 */
export type PositionKind = 'learned' | 'sinusoidal' | 'sinusoidal-split' | 'rotary' | 'none';
export type Activation = 'gelu' | 'gelu_new' | 'relu' | 'swish';

export type Family =
  'gpt2' | 'marian' | 'attention-lab' | 'llama' | 'qwen2' | 'gpt-neo' | 'bert' | 'distilbert';

export interface ModelConfig {
  /** Where it came from: the Hugging Face `model_type` (GPT-Neo's `gpt_neo` as `gpt-neo`) or `attention-lab`. */
  family: Family;
  architecture: Architecture;
  vocabSize: number;
  dModel: number;
  nHeads: number;
  /** Layers of the decoder (decoder-only / encoder-decoder) or of the encoder (encoder-only). */
  nLayers: number;
  /** Encoder layers of an encoder-decoder model; 0 otherwise. */
  nEncoderLayers: number;
  dFF: number;
  contextLength: number;
  norm: NormPlacement;
  positions: PositionKind;
  activation: Activation;
  layerNormEps: number;
  /** Multiply token embeddings by √d before adding positions (Marian, the original Transformer). */
  scaleEmbedding: boolean;
  /** A LayerNorm after the last block (GPT-2's ln_f); post-norm models normally have none. */
  finalNorm: boolean;
  /** Attention without Q/K/V/O biases (our attention-only induction model). */
  attentionBias: boolean;
  /** Blocks without the feed-forward sub-layer (attention-only models). */
  attentionOnly: boolean;
  /** LM head is the transposed token embedding. */
  tiedEmbeddings: boolean;
  /** Marian adds a learned bias to the logits. */
  finalLogitsBias: boolean;
  /** Token ids with a special meaning, when the model has them. */
  padTokenId: number | null;
  eosTokenId: number | null;
  decoderStartTokenId: number | null;
  // The fields below are set by the families that need them (src/model/configs/); absent means
  // what GPT-2 and Marian do.
  /** Width of one head when it is not dModel / nHeads (Llama's `head_dim`). */
  headDim?: number;
  /** Grouped-query attention: query head h reads key/value head ⌊h / (nHeads / nKvHeads)⌋. */
  nKvHeads?: number;
  /** RoPE base θ: dimension pair i turns at θ^(−2i/head_dim) radians per position. */
  ropeTheta?: number;
  /** `rms`: x / √(mean(x²) + ε) · γ, no centring and no β (Llama, Qwen2). */
  normKind?: 'layer' | 'rms';
  /** `gated`: down(act(gate(x)) ⊙ up(x)) (SwiGLU); `plain`: proj(act(fc(x))). */
  mlp?: 'plain' | 'gated';
  /** Scores are q·k without the 1/√head_dim factor (GPT-Neo). */
  unscaledScores?: boolean;
  /** Per layer: null for global attention, w for local attention over the last w keys (GPT-Neo). */
  attentionWindows?: (number | null)[];
  /** Token-type (segment) embeddings added to the input (BERT); 0 or absent: none. */
  typeVocabSize?: number;
  /** A LayerNorm on the embedding sum, before the first block (BERT, DistilBERT). */
  embeddingNorm?: boolean;
  /** Masked-LM head: dense → activation → LayerNorm before the vocabulary projection. */
  mlmHead?: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    message: string,
    readonly code: 'not-an-object' | 'unsupported-model' | 'bad-value' = 'bad-value',
  ) {
    super(message);
  }
}

export type Json = Record<string, unknown>;

// Readers of one key each: a value of the wrong type or out of range is an error naming the key,
// never replaced by the default (which is only for a key that is missing or null).

/** A finite number; `fallback` when the key is missing or null. */
export function num(c: Json, key: string, fallback?: number): number {
  const v = c[key];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`config.json: "${key}" is missing`);
  }
  throw new ConfigError(`config.json: "${key}" must be a number, but ${found(v)}`);
}

/** An integer in [min, max] (exact as a double); `fallback` when missing or null. */
export function requireInt(
  c: Json,
  key: string,
  {
    min = 0,
    max = Number.MAX_SAFE_INTEGER,
    fallback,
  }: { min?: number; max?: number; fallback?: number } = {},
): number {
  const v = num(c, key, fallback);
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER
        ? min === 1
          ? 'a positive integer'
          : `an integer ≥ ${min}`
        : `an integer in [${min}, ${max}]`;
    throw new ConfigError(`config.json: "${key}" must be ${range}, but ${found(v)}`);
  }
  return v;
}

export function positiveInt(c: Json, key: string, fallback?: number): number {
  return requireInt(c, key, { min: 1, fallback });
}

/** A number > 0 (LayerNorm's ε: 0 or less gives NaN on a constant input). */
export function positiveNumber(c: Json, key: string, fallback?: number): number {
  const v = num(c, key, fallback);
  if (v <= 0) throw new ConfigError(`config.json: "${key}" must be positive, but ${found(v)}`);
  return v;
}

/** true or false; `fallback` when missing or null ("yes" is not a boolean). */
export function bool(c: Json, key: string, fallback: boolean): boolean {
  const v = c[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'boolean') return v;
  throw new ConfigError(`config.json: "${key}" must be true or false, but ${found(v)}`);
}

/** A token id, or null when missing or null; the vocabulary is checked by `checkTokenIds`. */
export function optionalId(c: Json, key: string): number | null {
  const v = c[key];
  if (v === undefined || v === null) return null;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  throw new ConfigError(`config.json: "${key}" must be a token id, but ${found(v)}`);
}

const TOKEN_ID_KEYS = {
  padTokenId: 'pad_token_id',
  eosTokenId: 'eos_token_id',
  decoderStartTokenId: 'decoder_start_token_id',
} as const;

/**
 * Special token ids must name tokens of the vocabulary (one outside it fails every run, blaming
 * the text). `outside: 'none'` reads one outside as no id instead: GPT-2 configs carry
 * `eos_token_id: 50256` whatever their vocabulary, and decoder-only models never use it.
 */
export function checkTokenIds(cfg: ModelConfig, outside: 'error' | 'none' = 'error'): ModelConfig {
  const out = { ...cfg };
  for (const [field, key] of Object.entries(TOKEN_ID_KEYS) as [
    keyof typeof TOKEN_ID_KEYS,
    string,
  ][]) {
    const id = cfg[field];
    if (id === null || (id >= 0 && id < cfg.vocabSize)) continue;
    if (outside === 'none') {
      out[field] = null;
      continue;
    }
    throw new ConfigError(
      `config.json: "${key}" is ${id}, outside the vocabulary [0, ${cfg.vocabSize}) that "vocab_size" gives`,
    );
  }
  return out;
}

export function activation(v: unknown): Activation {
  switch (v) {
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return 'gelu_new';
    case 'gelu':
      return 'gelu';
    case 'relu':
      return 'relu';
    case 'swish':
    case 'silu':
      return 'swish';
    default:
      throw new ConfigError(`config.json: unsupported activation function ${JSON.stringify(v)}`);
  }
}

function oneOf<T extends string>(c: Json, key: string, allowed: readonly T[], fallback: T): T {
  const v = c[key] ?? fallback;
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new ConfigError(
    `config.json: "${key}" must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`,
  );
}

export function checkHeads(cfg: ModelConfig): ModelConfig {
  if (cfg.dModel % cfg.nHeads !== 0) {
    throw new ConfigError(
      `config.json: hidden size ${cfg.dModel} is not divisible by ${cfg.nHeads} heads`,
    );
  }
  return cfg;
}

function parseGpt2(c: Json): ModelConfig {
  requireArchitecture(c, 'gpt2');
  const d = positiveInt(c, 'n_embd');
  // Variants of GPT-2's attention that would change the arithmetic (scaled by 1/layer, unscaled).
  if (bool(c, 'scale_attn_by_inverse_layer_idx', false) || !bool(c, 'scale_attn_weights', true)) {
    throw new ConfigError(
      'config.json: GPT-2 attention scaled other than by 1/√d_head (scale_attn_weights false, scale_attn_by_inverse_layer_idx true) is not supported',
    );
  }
  const cfg = checkHeads({
    family: 'gpt2',
    architecture: 'decoder-only',
    vocabSize: positiveInt(c, 'vocab_size'),
    dModel: d,
    nHeads: positiveInt(c, 'n_head'),
    nLayers: positiveInt(c, 'n_layer'),
    nEncoderLayers: 0,
    dFF: positiveInt(c, 'n_inner', 4 * d),
    contextLength: positiveInt(c, 'n_positions'),
    norm: 'pre',
    positions: 'learned',
    activation: activation(c.activation_function ?? 'gelu_new'),
    layerNormEps: positiveNumber(c, 'layer_norm_epsilon', 1e-5),
    scaleEmbedding: false,
    finalNorm: true,
    attentionBias: true,
    attentionOnly: false,
    tiedEmbeddings: true,
    finalLogitsBias: false,
    padTokenId: optionalId(c, 'pad_token_id'),
    eosTokenId: optionalId(c, 'eos_token_id'),
    decoderStartTokenId: null,
  });
  return checkTokenIds(cfg, 'none');
}

function parseMarian(c: Json): ModelConfig {
  requireArchitecture(c, 'marian');
  const enc = positiveInt(c, 'encoder_layers');
  const dec = positiveInt(c, 'decoder_layers');
  const heads = positiveInt(c, 'decoder_attention_heads');
  if (
    num(c, 'encoder_attention_heads') !== heads ||
    num(c, 'encoder_ffn_dim') !== num(c, 'decoder_ffn_dim')
  ) {
    throw new ConfigError('config.json: encoder and decoder of different widths are not supported');
  }
  const vocabSize = positiveInt(c, 'vocab_size');
  if (positiveInt(c, 'decoder_vocab_size', vocabSize) !== vocabSize) {
    throw new ConfigError(
      'config.json: Marian models whose decoder_vocab_size differs from vocab_size are not supported',
    );
  }
  if (!bool(c, 'share_encoder_decoder_embeddings', true)) {
    throw new ConfigError(
      'config.json: Marian models with separate decoder embeddings are not supported',
    );
  }
  const cfg = checkHeads({
    family: 'marian',
    architecture: 'encoder-decoder',
    vocabSize,
    dModel: positiveInt(c, 'd_model'),
    nHeads: heads,
    nLayers: dec,
    nEncoderLayers: enc,
    dFF: positiveInt(c, 'decoder_ffn_dim'),
    contextLength: positiveInt(c, 'max_position_embeddings'),
    norm: 'post',
    positions: 'sinusoidal-split',
    activation: activation(c.activation_function ?? 'swish'),
    layerNormEps: 1e-5,
    scaleEmbedding: bool(c, 'scale_embedding', false),
    finalNorm: false,
    attentionBias: true,
    attentionOnly: false,
    tiedEmbeddings: true,
    finalLogitsBias: true,
    padTokenId: optionalId(c, 'pad_token_id'),
    eosTokenId: optionalId(c, 'eos_token_id'),
    decoderStartTokenId: optionalId(c, 'decoder_start_token_id') ?? optionalId(c, 'pad_token_id'),
  });
  return checkTokenIds(cfg);
}

/** The project's own format: GPT-2's keys plus what GPT-2 cannot say (see docs/model-format.md). */
function parseAttentionLab(c: Json): ModelConfig {
  const architecture = oneOf(
    c,
    'architecture',
    ['decoder-only', 'encoder-only', 'encoder-decoder'] as const,
    'decoder-only',
  );
  const d = positiveInt(c, 'n_embd');
  const norm = oneOf(c, 'norm_placement', ['pre', 'post'] as const, 'pre');
  const cfg = checkHeads({
    family: 'attention-lab',
    architecture,
    vocabSize: positiveInt(c, 'vocab_size'),
    dModel: d,
    nHeads: positiveInt(c, 'n_head'),
    nLayers: positiveInt(c, 'n_layer'),
    nEncoderLayers: architecture === 'encoder-decoder' ? positiveInt(c, 'n_encoder_layer') : 0,
    dFF: positiveInt(c, 'n_inner', 4 * d),
    contextLength: positiveInt(c, 'n_positions'),
    norm,
    positions: oneOf(
      c,
      'position_embedding',
      ['learned', 'sinusoidal', 'sinusoidal-split', 'none'] as const,
      'learned',
    ),
    activation: activation(c.activation_function ?? 'gelu_new'),
    layerNormEps: positiveNumber(c, 'layer_norm_epsilon', 1e-5),
    scaleEmbedding: bool(c, 'scale_embedding', false),
    finalNorm: bool(c, 'final_layer_norm', norm === 'pre'),
    attentionBias: bool(c, 'attention_bias', true),
    attentionOnly: bool(c, 'attention_only', false),
    tiedEmbeddings: bool(c, 'tie_word_embeddings', true),
    finalLogitsBias: false,
    padTokenId: optionalId(c, 'pad_token_id'),
    eosTokenId: optionalId(c, 'eos_token_id'),
    decoderStartTokenId: optionalId(c, 'decoder_start_token_id'),
  });
  return checkTokenIds(cfg);
}

/** Normalise a Hugging Face style `config.json` object. */
export function parseConfig(json: unknown): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError('config.json must hold a JSON object', 'not-an-object');
  }
  const c = json as Json;
  switch (c.model_type) {
    case 'gpt2':
      return parseGpt2(c);
    case 'marian':
      return parseMarian(c);
    case 'attention-lab':
      return parseAttentionLab(c);
    case 'llama':
    case 'qwen2':
      return parseLlama(c, c.model_type);
    case 'gpt_neo':
      return parseGptNeo(c);
    case 'bert':
      return parseBert(c);
    case 'distilbert':
      return parseDistilBert(c);
    default:
      throw new ConfigError(
        `unsupported model_type ${c.model_type === undefined ? '(config.json has none)' : JSON.stringify(c.model_type)}: Attention Lab runs ${supportedList()} and its own attention-lab models`,
        'unsupported-model',
      );
  }
}

export function headDim(cfg: ModelConfig): number {
  return cfg.headDim ?? cfg.dModel / cfg.nHeads;
}

/** The stacks a model of this architecture has, in the order they run. */
export function stacksOf(cfg: ModelConfig): ('encoder' | 'decoder')[] {
  if (cfg.architecture === 'encoder-decoder') return ['encoder', 'decoder'];
  return cfg.architecture === 'encoder-only' ? ['encoder'] : ['decoder'];
}

export function layersOf(cfg: ModelConfig, stack: 'encoder' | 'decoder'): number {
  return stack === 'encoder' && cfg.architecture === 'encoder-decoder'
    ? cfg.nEncoderLayers
    : cfg.nLayers;
}

/** Key/value heads of the model: fewer than the query heads under grouped-query attention. */
export function kvHeadCount(cfg: ModelConfig): number {
  return cfg.nKvHeads ?? cfg.nHeads;
}

/**
 * The key/value head query head `head` reads (repeat_kv's layout): ⌊head / (nHeads / nKvHeads)⌋.
 * Every query head has its own pattern in the trace; heads with the same KV head share k and v.
 */
export function kvHeadOf(cfg: ModelConfig, head: number): number {
  return Math.floor(head / (cfg.nHeads / kvHeadCount(cfg)));
}
