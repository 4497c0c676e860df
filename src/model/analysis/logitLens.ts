/**
 * The logit lens (nostalgebraist, 2020): the residual stream after every sub-layer read as if it
 * were the last, through the final norm and the unembedding. For a pre-norm model the last point
 * read so is exactly the model's output; a post-norm model's points are each sub-layer's output
 * after its own norm, read through the unembedding (and the final norm where there is one).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../model';
import { normalize } from '../norm';
import { logitsOf } from '../parts';
import {
  decoderHidden,
  embedIds,
  NO_INTERVENTIONS,
  SUB_LAYER_POINTS,
  tracerOf,
  type StreamInterventions,
} from './stream';

export interface LogitLens {
  /** Top-1 token per residual point and position, `[points, T]` int32, and its probability. */
  top1: tf.Tensor2D;
  top1Prob: tf.Tensor2D;
  /** The top-k at `position` per point, `[points, k]` (ids int32, probabilities). */
  topIds: tf.Tensor2D;
  topProbs: tf.Tensor2D;
}

/** One residual `[1, T, d]` read out: top-1 id and probability per position, top-k at one. */
function readOut(model: Model, x: tf.Tensor, position: number, k: number): tf.Tensor[] {
  const [, t, d] = x.shape as [number, number, number];
  const finalNorm = model.params.decoder!.finalNorm;
  const h = finalNorm ? normalize(x, finalNorm, model.config) : x;
  const logProbs = tf.logSoftmax(logitsOf(model, tf.reshape(h, [t, d]) as tf.Tensor2D)); // [T, V]
  const top = tf.topk(tf.reshape(tf.slice(logProbs, [position, 0], [1, -1]), [-1]), k);
  return [tf.argMax(logProbs, 1), tf.exp(tf.max(logProbs, 1)), top.indices, tf.exp(top.values)];
}

/** The lens over the residual points of `residualPoints(cfg)`, for the decoder on `ids` under `iv`. */
export function logitLens(
  model: Model,
  ids: number[],
  position: number,
  k: number,
  iv: StreamInterventions = NO_INTERVENTIONS,
): LogitLens {
  return tf.tidy(() => {
    const rows: tf.Tensor[][] = [];
    // Read inside each block's tidy; only the small read-outs are kept past it.
    const read = (x: tf.Tensor) => rows.push(readOut(model, x, position, k).map(tf.keep));
    const x0 = embedIds(model, ids, iv);
    read(x0);
    decoderHidden(model, x0, {
      probe: {
        tracer: () => tracerOf({ residual: (point, x) => SUB_LAYER_POINTS.has(point) && read(x) }),
      },
      interventions: iv,
    });
    const stacked = [0, 1, 2, 3].map((i) => tf.stack(rows.map((r) => r[i])) as tf.Tensor2D);
    for (const t of rows.flat()) t.dispose();
    const [top1, top1Prob, topIds, topProbs] = stacked;
    return { top1, top1Prob, topIds, topProbs };
  });
}
