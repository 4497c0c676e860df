/**
 * Direct logit attribution: the final residual at one position is a sum of what wrote to it,
 *   r = x₀ (token + position) + Σ_layers (Σ_heads headₕ W_O[h] + b_O) + Σ_layers MLP,
 * and the logit of token u is LN(r) · u + b_u. The final norm is not linear; the standard
 * convention linearises it at r: its scale σ (√(var(r) + ε), or the RMS for RMSNorm) is computed
 * once on the full residual, so each part c contributes γ ⊙ (c − mean(c)) / σ · u (no centring
 * for RMSNorm), β · u and b_u are the biases' share, and the parts sum exactly to the logit.
 * Pre-norm decoders only (`unsupportedReason`). docs/interpretability.md.
 */
import * as tf from '@tensorflow/tfjs-core';
import { headDim } from '../config';
import { vocabularyLogits } from '../embedding';
import type { Model } from '../model';
import { weightTensor } from '../halfWeights';
import { logitsOf } from '../parts';
import {
  decoderHidden,
  embedIds,
  NO_INTERVENTIONS,
  rowAt,
  tracerOf,
  type StreamInterventions,
} from './stream';

/** A type, not an interface: tf.tidy returns only index-signature-compatible containers. */
export type LogitAttribution = {
  /** The token attributed: the given one, or the model's prediction at the position. int32 []. */
  token: tf.Scalar;
  /** Each head's direct contribution to the token's logit, `[layers, heads]`. */
  heads: tf.Tensor2D;
  /** Each MLP's, `[layers]` (`[0]` for attention-only models). */
  mlps: tf.Tensor1D;
  /** The embeddings' (tokens + positions: the direct path). */
  embedding: tf.Scalar;
  /** The attention output biases', the final norm's β and the logit bias. */
  biases: tf.Scalar;
  /** The model's own logit of the token, which the parts above sum to. */
  logit: tf.Scalar;
};

/** Rows `[n, d]` through the linearised final norm and the unembedding: `[n, vocab]`. */
function linearisedLogits(model: Model, rows: tf.Tensor2D, residual: tf.Tensor2D): tf.Tensor2D {
  const cfg = model.config;
  const p = model.params;
  const finalNorm = p.decoder!.finalNorm;
  let z: tf.Tensor2D = rows;
  if (finalNorm) {
    const rms = cfg.normKind === 'rms';
    const scale = rms
      ? tf.sqrt(tf.add(tf.mean(tf.square(residual)), cfg.layerNormEps))
      : tf.sqrt(tf.add(tf.moments(residual).variance, cfg.layerNormEps));
    const centred = rms ? rows : tf.sub(rows, tf.mean(rows, 1, true));
    z = tf.div(tf.mul(centred, finalNorm.gamma), scale);
  }
  return vocabularyLogits(z, p.lmHead ?? p.tokenEmbedding, !p.lmHead);
}

/** Column `token` of `[n, vocab]`: `[n]`. */
function column(logits: tf.Tensor2D, token: tf.Tensor1D): tf.Tensor1D {
  return tf.reshape(tf.gather(logits, token, 1), [-1]);
}

/**
 * Attribute the logit of `token` (default: the predicted one) at `position` of the decoder on
 * `ids` under `iv` (an ablated head's output is 0, so its share is 0; without positions the
 * direct path is the token embedding alone).
 */
export function logitAttribution(
  model: Model,
  ids: number[],
  position: number,
  token: number | null,
  iv: StreamInterventions = NO_INTERVENTIONS,
): LogitAttribution {
  return tf.tidy(() => {
    const cfg = model.config;
    const blocks = model.params.decoder!.blocks;
    const [h, dh] = [cfg.nHeads, headDim(cfg)];
    const headRows: tf.Tensor[] = [];
    const mlpRows: tf.Tensor[] = [];
    const biasRows: tf.Tensor[] = [];
    // The latest residual point at `position` (the final residual once the run is over), and
    // the current block's after its attention: [1, d] each.
    const seen: { residual?: tf.Tensor2D; afterAttention?: tf.Tensor2D } = {};
    // What the tracer keeps past each block's tidy, disposed once the shares are computed.
    const kept: tf.Tensor[] = [];
    const keep = <T extends tf.Tensor>(t: T): T => {
      kept.push(t);
      return tf.keep(t);
    };
    const x0 = embedIds(model, ids, iv);
    const tracer = (layer: number) =>
      tracerOf({
        // Each head's output at the position through its own rows of W_O: [h, 1, dh] @ [h, dh, d].
        attention: (r) => {
          const at = tf.reshape(tf.slice(r.heads, [0, 0, position, 0], [1, h, 1, dh]), [h, 1, dh]);
          const o = blocks[layer].attn.o;
          const w = tf.reshape(weightTensor(o.w), [h, dh, cfg.dModel]);
          headRows.push(keep(tf.reshape(tf.matMul(at, w), [h, cfg.dModel])));
          if (o.b) biasRows.push(keep(tf.reshape(o.b, [1, cfg.dModel])));
        },
        residual: (point, x) => {
          if (point === 'input') return;
          const row = keep(rowAt(x, position));
          if (point === 'after-attention') seen.afterAttention = row;
          if (point === 'after-mlp') mlpRows.push(keep(tf.sub(row, seen.afterAttention!)));
          seen.residual = row;
        },
      });
    const hidden = decoderHidden(model, x0, { probe: { tracer }, interventions: iv });
    const modelLogits = logitsOf(model, rowAt(hidden, position)); // [1, vocab]
    const target = tf.reshape(
      token === null ? tf.argMax(modelLogits, 1) : tf.tensor1d([token], 'int32'),
      [1],
    ) as tf.Tensor1D;
    const layers = blocks.length;
    const parts = tf.concat([rowAt(x0, position), ...headRows, ...mlpRows, ...biasRows]);
    const shares = column(linearisedLogits(model, parts as tf.Tensor2D, seen.residual!), target); // [n]
    const at = (start: number, size: number) => tf.slice(shares, [start], [size]);
    const finalNorm = model.params.decoder!.finalNorm;
    const beta = finalNorm?.beta
      ? column(
          vocabularyLogits(
            tf.reshape(finalNorm.beta, [1, -1]) as tf.Tensor2D,
            model.params.lmHead ?? model.params.tokenEmbedding,
            !model.params.lmHead,
          ),
          target,
        )
      : tf.zeros([1]);
    const logitBias = model.params.logitsBias
      ? tf.gather(model.params.logitsBias, target)
      : tf.zeros([1]);
    const mlpStart = 1 + layers * h;
    const biasStart = mlpStart + mlpRows.length;
    const result: LogitAttribution = {
      token: tf.reshape(target, []) as tf.Scalar,
      heads: tf.reshape(at(1, layers * h), [layers, h]) as tf.Tensor2D,
      mlps: at(mlpStart, mlpRows.length) as tf.Tensor1D,
      embedding: tf.reshape(at(0, 1), []) as tf.Scalar,
      biases: tf.reshape(
        // No attention biases (e.g. the induction model): WebGL's sum of an empty tensor fails.
        tf.add(
          tf.add(biasRows.length ? tf.sum(at(biasStart, biasRows.length)) : 0, tf.sum(beta)),
          tf.sum(logitBias),
        ),
        [],
      ) as tf.Scalar,
      logit: tf.reshape(column(modelLogits, target), []) as tf.Scalar,
    };
    for (const t of kept) t.dispose();
    return result;
  });
}
