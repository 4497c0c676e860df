/**
 * GPT-Neo `config.json` (GPTNeoForCausalLM): GPT-2's layout with separate q/k/v projections,
 * unscaled scores, and local attention on the layers `attention_types` names `local`.
 */
import {
  ConfigError,
  activation,
  checkHeads,
  bool,
  checkTokenIds,
  positiveNumber,
  optionalId,
  positiveInt,
  type Json,
  type ModelConfig,
} from '../config';
import { requireArchitecture } from './architectures';

/**
 * `[[["global", "local"], 2]]` → global, local, global, local: each entry repeats its pattern n
 * times (GPTNeoConfig.expand_attention_types_params).
 */
function expandAttentionTypes(c: Json, layers: number): ('global' | 'local')[] {
  const spec = c.attention_types ?? [[['global', 'local'], layers / 2]];
  const bad = () =>
    new ConfigError(
      `config.json: "attention_types" must be a list of [["global" | "local", …], count], got ${JSON.stringify(spec)}`,
    );
  if (!Array.isArray(spec)) throw bad();
  const out: ('global' | 'local')[] = [];
  for (const item of spec) {
    if (!Array.isArray(item) || item.length !== 2 || !Array.isArray(item[0])) throw bad();
    const [pattern, count] = item as [unknown[], unknown];
    if (!Number.isInteger(count) || (count as number) < 0) throw bad();
    for (let i = 0; i < (count as number); i++) {
      for (const t of pattern) {
        if (t !== 'global' && t !== 'local') throw bad();
        out.push(t);
      }
    }
  }
  if (out.length !== layers) {
    throw new ConfigError(
      `config.json: "attention_types" expands to ${out.length} layers but num_layers is ${layers}`,
    );
  }
  return out;
}

export function parseGptNeo(c: Json): ModelConfig {
  requireArchitecture(c, 'gpt_neo');
  const d = positiveInt(c, 'hidden_size');
  const layers = positiveInt(c, 'num_layers');
  const window = positiveInt(c, 'window_size', 256);
  const cfg = checkHeads({
    family: 'gpt-neo',
    architecture: 'decoder-only',
    vocabSize: positiveInt(c, 'vocab_size'),
    dModel: d,
    nHeads: positiveInt(c, 'num_heads'),
    nLayers: layers,
    nEncoderLayers: 0,
    // null means 4·d (GPTNeoMLP is built with `intermediate_size or 4 * hidden_size`).
    dFF:
      c.intermediate_size === undefined || c.intermediate_size === null
        ? 4 * d
        : positiveInt(c, 'intermediate_size'),
    contextLength: positiveInt(c, 'max_position_embeddings'),
    norm: 'pre',
    positions: 'learned',
    activation: activation(c.activation_function ?? 'gelu_new'),
    layerNormEps: positiveNumber(c, 'layer_norm_epsilon', 1e-5),
    scaleEmbedding: false,
    finalNorm: true,
    attentionBias: false,
    attentionOnly: false,
    tiedEmbeddings: bool(c, 'tie_word_embeddings', true),
    finalLogitsBias: false,
    padTokenId: optionalId(c, 'pad_token_id'),
    eosTokenId: optionalId(c, 'eos_token_id'),
    decoderStartTokenId: null,
    unscaledScores: true,
    attentionWindows: expandAttentionTypes(c, layers).map((t) => (t === 'local' ? window : null)),
  });
  return checkTokenIds(cfg, 'none');
}
