/**
 * Encoder-only masked LMs: BERT (`BertForMaskedLM`) and DistilBERT (`DistilBertForMaskedLM`).
 * Post-norm blocks, an embedding LayerNorm, and the MLM head (dense → GELU → LayerNorm →
 * vocabulary); BERT adds token-type embeddings.
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

function encoderOnly(
  c: Json,
): Omit<
  ModelConfig,
  | 'family'
  | 'vocabSize'
  | 'dModel'
  | 'nHeads'
  | 'nLayers'
  | 'dFF'
  | 'contextLength'
  | 'activation'
  | 'layerNormEps'
> {
  return {
    architecture: 'encoder-only',
    nEncoderLayers: 0,
    norm: 'post',
    positions: 'learned',
    scaleEmbedding: false,
    finalNorm: false,
    attentionBias: true,
    attentionOnly: false,
    tiedEmbeddings: bool(c, 'tie_word_embeddings', true),
    finalLogitsBias: false,
    padTokenId: optionalId(c, 'pad_token_id'),
    eosTokenId: null,
    decoderStartTokenId: null,
    embeddingNorm: true,
    mlmHead: true,
  };
}

export function parseBert(c: Json): ModelConfig {
  requireArchitecture(c, 'bert');
  const positionType = c.position_embedding_type ?? 'absolute';
  if (positionType !== 'absolute') {
    throw new ConfigError(
      `config.json: position_embedding_type ${JSON.stringify(positionType)} is not supported: Attention Lab runs BERT with absolute positions`,
      'unsupported-model',
    );
  }
  if (c.is_decoder === true || c.add_cross_attention === true) {
    throw new ConfigError(
      'config.json: BERT as a decoder (is_decoder / add_cross_attention) is not supported',
      'unsupported-model',
    );
  }
  return checkTokenIds(
    checkHeads({
      family: 'bert',
      ...encoderOnly(c),
      vocabSize: positiveInt(c, 'vocab_size'),
      dModel: positiveInt(c, 'hidden_size'),
      nHeads: positiveInt(c, 'num_attention_heads'),
      nLayers: positiveInt(c, 'num_hidden_layers'),
      dFF: positiveInt(c, 'intermediate_size'),
      contextLength: positiveInt(c, 'max_position_embeddings'),
      // BERT's "gelu" is the exact erf form (ACT2FN["gelu"] = GELUActivation).
      activation: activation(c.hidden_act ?? 'gelu'),
      layerNormEps: positiveNumber(c, 'layer_norm_eps', 1e-12),
      typeVocabSize: positiveInt(c, 'type_vocab_size', 2),
    }),
    'none',
  );
}

export function parseDistilBert(c: Json): ModelConfig {
  requireArchitecture(c, 'distilbert');
  return checkTokenIds(
    checkHeads({
      family: 'distilbert',
      ...encoderOnly(c),
      vocabSize: positiveInt(c, 'vocab_size'),
      dModel: positiveInt(c, 'dim'),
      nHeads: positiveInt(c, 'n_heads'),
      nLayers: positiveInt(c, 'n_layers'),
      dFF: positiveInt(c, 'hidden_dim'),
      contextLength: positiveInt(c, 'max_position_embeddings'),
      activation: activation(c.activation ?? 'gelu'),
      // DistilBERT's LayerNorms are built with eps=1e-12, not read from the config.
      layerNormEps: 1e-12,
    }),
    'none',
  );
}
