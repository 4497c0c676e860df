/**
 * Masked-LM tensor names. BertForMaskedLM (modeling_bert.py): `bert.embeddings.{word,
 * position, token_type}_embeddings`, `bert.embeddings.LayerNorm`, `bert.encoder.layer.{i}.
 * {attention.self.{query,key,value}, attention.output.{dense, LayerNorm}, intermediate.dense,
 * output.{dense, LayerNorm}}`, `cls.predictions.{transform.dense, transform.LayerNorm, bias}`
 * and `cls.predictions.decoder.weight` only when untied. DistilBertForMaskedLM
 * (modeling_distilbert.py): `distilbert.embeddings.*`, `distilbert.transformer.layer.{i}.
 * {attention.{q,k,v,out}_lin, sa_layer_norm, ffn.lin1, ffn.lin2, output_layer_norm}`,
 * `vocab_transform`, `vocab_layer_norm`, `vocab_projector.bias` (its weight only when untied).
 */
import type { ModelConfig } from '../config';
import type { TensorReader } from '../checkpoint';
import type { BlockParams, ModelParams } from '../params';
import { torchLayerNorm, torchLinear, untiedHead } from './torchLinear';

export const BERT_PREFIXES = ['bert.', ''];
export const DISTILBERT_PREFIXES = ['distilbert.', ''];

function bertBlock(r: TensorReader, cfg: ModelConfig, i: number): BlockParams {
  const d = cfg.dModel;
  const l = `encoder.layer.${i}`;
  return {
    attn: {
      q: torchLinear(r, `${l}.attention.self.query`, d, d, true),
      k: torchLinear(r, `${l}.attention.self.key`, d, d, true),
      v: torchLinear(r, `${l}.attention.self.value`, d, d, true),
      o: torchLinear(r, `${l}.attention.output.dense`, d, d, true),
    },
    ln1: torchLayerNorm(r, `${l}.attention.output.LayerNorm`, d),
    mlp: {
      fc: torchLinear(r, `${l}.intermediate.dense`, d, cfg.dFF, true),
      proj: torchLinear(r, `${l}.output.dense`, cfg.dFF, d, true),
    },
    ln2: torchLayerNorm(r, `${l}.output.LayerNorm`, d),
  };
}

export function bertParams(r: TensorReader, cfg: ModelConfig): ModelParams {
  const d = cfg.dModel;
  const v = cfg.vocabSize;
  // Older files store the decoder's bias as cls.predictions.decoder.bias (the same parameter).
  const bias = r.has('cls.predictions.bias')
    ? 'cls.predictions.bias'
    : 'cls.predictions.decoder.bias';
  return {
    tokenEmbedding: r.rowChunks('embeddings.word_embeddings.weight', v, d),
    positionEmbedding: r.tensor2d('embeddings.position_embeddings.weight', cfg.contextLength, d),
    tokenTypeEmbedding: r.tensor2d(
      'embeddings.token_type_embeddings.weight',
      cfg.typeVocabSize ?? 2,
      d,
    ),
    embeddingNorm: torchLayerNorm(r, 'embeddings.LayerNorm', d),
    encoder: { blocks: Array.from({ length: cfg.nLayers }, (_, i) => bertBlock(r, cfg, i)) },
    mlmHead: {
      dense: torchLinear(r, 'cls.predictions.transform.dense', d, d, true),
      norm: torchLayerNorm(r, 'cls.predictions.transform.LayerNorm', d),
    },
    logitsBias: r.tensor1d(bias, v),
    ...(cfg.tiedEmbeddings
      ? {}
      : { lmHead: untiedHead(r, 'cls.predictions.decoder.weight', v, d) }),
  };
}

function distilBertBlock(r: TensorReader, cfg: ModelConfig, i: number): BlockParams {
  const d = cfg.dModel;
  const l = `transformer.layer.${i}`;
  return {
    attn: {
      q: torchLinear(r, `${l}.attention.q_lin`, d, d, true),
      k: torchLinear(r, `${l}.attention.k_lin`, d, d, true),
      v: torchLinear(r, `${l}.attention.v_lin`, d, d, true),
      o: torchLinear(r, `${l}.attention.out_lin`, d, d, true),
    },
    ln1: torchLayerNorm(r, `${l}.sa_layer_norm`, d),
    mlp: {
      fc: torchLinear(r, `${l}.ffn.lin1`, d, cfg.dFF, true),
      proj: torchLinear(r, `${l}.ffn.lin2`, cfg.dFF, d, true),
    },
    ln2: torchLayerNorm(r, `${l}.output_layer_norm`, d),
  };
}

export function distilBertParams(r: TensorReader, cfg: ModelConfig): ModelParams {
  const d = cfg.dModel;
  const v = cfg.vocabSize;
  return {
    tokenEmbedding: r.rowChunks('embeddings.word_embeddings.weight', v, d),
    positionEmbedding: r.tensor2d('embeddings.position_embeddings.weight', cfg.contextLength, d),
    embeddingNorm: torchLayerNorm(r, 'embeddings.LayerNorm', d),
    encoder: {
      blocks: Array.from({ length: cfg.nLayers }, (_, i) => distilBertBlock(r, cfg, i)),
    },
    mlmHead: {
      dense: torchLinear(r, 'vocab_transform', d, d, true),
      norm: torchLayerNorm(r, 'vocab_layer_norm', d),
    },
    logitsBias: r.tensor1d('vocab_projector.bias', v),
    ...(cfg.tiedEmbeddings ? {} : { lmHead: untiedHead(r, 'vocab_projector.weight', v, d) }),
  };
}
