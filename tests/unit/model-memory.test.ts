/**
 * Peak memory of the untraced forward (the batch driver with logits for the last position, as the
 * worker's bare forward runs it): each layer's attention is computed in blocks of queries, each
 * block's scores and probabilities `[1, h, rows, T]` freed before the next, so the peak holds one
 * block of one layer's attention and grows linearly in T (docs/performance.md, "Memory of the
 * untraced forward").
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUERY_ROWS } from '../../src/model/blockedAttention';
import { parseConfig } from '../../src/model/config';
import { initModel } from '../../src/model/init';
import {
  decoderLogits,
  disposeModel,
  encoderDecoderLogits,
  type Model,
} from '../../src/model/model';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';

const LAYERS = 12;
const HEADS = 4;
const D = 16;
const FLOAT = 4; // bytes

const base = {
  model_type: 'attention-lab',
  vocab_size: 32,
  n_embd: D,
  n_head: HEADS,
  n_layer: LAYERS,
  n_positions: 1024,
};
let decoder: Model;
let encDec: Model;

beforeAll(async () => {
  await useFastestNodeBackend();
  decoder = initModel(parseConfig(base), 1);
  encDec = initModel(
    parseConfig({
      ...base,
      architecture: 'encoder-decoder',
      n_encoder_layer: LAYERS,
      position_embedding: 'sinusoidal',
      pad_token_id: 0,
      decoder_start_token_id: 1,
    }),
    2,
  );
});

afterAll(() => {
  disposeModel(decoder);
  disposeModel(encDec);
});

/** Bytes above what was allocated before, at the peak of `forward`. */
async function peakAbove(forward: () => tf.Tensor): Promise<number> {
  const before = tf.memory().numBytes;
  const info = await tf.profile(() => tf.tidy(() => forward()));
  tf.dispose(info.result as tf.Tensor);
  return info.peakBytes - before;
}

const ids = (t: number) =>
  tf.tensor2d([Array.from({ length: t }, (_, i) => (i * 7) % 32)], [1, t], 'int32');

/**
 * What an untraced forward of T tokens may hold at its peak: the `[h, rows, T]` tensors of one
 * block of queries of one layer's attentions (scores, scaled and masked scores, probabilities,
 * softmax temporaries: five or six at the peak on wasm; eight allowed), and a bounded number of
 * `[T, width]` activations per layer (the residual stream, and one block's own, the MLP at 4·d
 * the widest). Holding a whole `[h, T, T]` attention, as before blocks of queries, costs T / rows
 * times the first term; holding every layer's, as one tidy around the stack did, LAYERS times more.
 */
function budget(t: number, attentionsPerBlock = 1): number {
  const oneBlockAttention = attentionsPerBlock * 8 * HEADS * Math.min(t, QUERY_ROWS) * t * FLOAT;
  const activations = (2 * LAYERS + 64) * t * D * FLOAT;
  return oneBlockAttention + activations;
}

describe('untraced forward memory', () => {
  it.each([64, 128, 256, 1024])(
    'decoder-only at T = %i holds one block of queries of one layer at its peak',
    async (t) => {
      const input = ids(t);
      const peak = await peakAbove(() => decoderLogits(decoder, input, 'last'));
      input.dispose();
      expect(peak).toBeLessThan(budget(t));
    },
  );

  it('grows linearly in T: twice the tokens, at most twice the peak (and a little)', async () => {
    const peakAt = async (t: number) => {
      const input = ids(t);
      const peak = await peakAbove(() => decoderLogits(decoder, input, 'last'));
      input.dispose();
      return peak;
    };
    const [at512, at1024] = [await peakAt(512), await peakAt(1024)];
    // Quadratic, it would be 4×; the terms independent of T (embedding gathers) make it < 2×.
    expect(at1024 / at512).toBeLessThan(2.1);
  });

  it('encoder–decoder at T = 128 holds one layer of attention at its peak', async () => {
    const t = 128;
    const source = ids(t);
    const target = ids(t);
    const peak = await peakAbove(() => encoderDecoderLogits(encDec, source, target, 'last'));
    tf.dispose([source, target]);
    // A decoder block has self- and cross-attention, [h, T, S] each (S = T here).
    expect(peak).toBeLessThan(budget(t, 2));
  });
});
