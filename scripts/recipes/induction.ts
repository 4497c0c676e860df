/**
 * induction: a 2-layer attention-only transformer trained on strings repeated twice. The second
 * copy is predictable by finding the earlier occurrence of the current token and copying what
 * followed it: the induction circuit, a previous-token head in layer 0 composed with an
 * induction head in layer 1.
 *
 * Half of the training strings are random characters, half are snippets of Tiny Shakespeare.
 * Trained on random strings alone (distinct characters first, then drawn with replacement) the
 * model reached 99.9% on the second copy but with no previous-token head and no clean induction
 * head: it found other ways (the earliest character not yet repeated; attending to the earlier
 * occurrence itself and shifting by position). In text the previous character helps predict the
 * next one on its own, so a previous-token head is worth learning early, as in language models,
 * and the induction head then builds on it.
 *
 * Accuracy is measured, as the issue asks, on random characters repeated twice, at the positions
 * of the second copy whose character occurs once in the first copy (elsewhere the answer is
 * ambiguous: a character seen twice before has two successors).
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseConfig } from '../../src/model/config';
import { Rng } from '../../src/model/random';
import { decoderLogits, type Model } from '../../src/model/model';
import { CharsTokenizer } from '../../src/model/tokenizer';
import { crossEntropy } from '../../src/model/train';
import { evaluationSets, inductionHeads, repeatedSequences } from './inductionProbe';
import type { Recipe } from './recipe';
import { readShakespeare } from './shakespeare';

/** Every character of the corpus, no special tokens. */
export const inductionTokenizer = (corpus: string) => CharsTokenizer.fromTexts([corpus], {});

const MIN_HALF = 6;
const MAX_HALF = 32;
const BATCH = 32;

/**
 * Accuracy of the argmax prediction on the second copy, at the positions t (half ≤ t ≤ 2·half−2)
 * where the answer is unambiguous: the token at t occurs once in the first copy, so the token
 * that followed it there is the only right prediction.
 */
export function repeatAccuracy(model: Model, sequences: number[][], half: number): number {
  const predicted = tf.tidy(() => {
    const ids = tf.tensor2d(sequences.flat(), [sequences.length, 2 * half], 'int32');
    return tf.argMax(decoderLogits(model, ids), -1).arraySync() as number[][];
  });
  let right = 0;
  let total = 0;
  sequences.forEach((seq, b) => {
    const first = seq.slice(0, half);
    for (let t = half; t < 2 * half - 1; t++) {
      if (first.indexOf(seq[t]) !== first.lastIndexOf(seq[t])) continue;
      right += predicted[b][t] === seq[t + 1] ? 1 : 0;
      total++;
    }
  });
  return right / total;
}

/**
 * A batch of strings repeated twice, each a random string or a text snippet with probability ½.
 * The loss counts every position of a text string and the second copy (h … 2h−2) of a random
 * one; the first copy of a random string is noise.
 */
function batchLoss(model: Model, rng: Rng, vocab: number, text: Int32Array): tf.Scalar {
  const half = rng.between(MIN_HALF, MAX_HALF);
  const length = 2 * half - 1;
  const sequences: number[][] = [];
  const weights: number[] = [];
  for (let b = 0; b < BATCH; b++) {
    const fromText = rng.next() < 0.5;
    const start = rng.int(text.length - half);
    const first = fromText
      ? Array.from(text.subarray(start, start + half))
      : Array.from({ length: half }, () => rng.int(vocab));
    sequences.push([...first, ...first]);
    for (let t = 0; t < length; t++) weights.push(fromText || t >= half ? 1 : 0);
  }
  return tf.tidy(() => {
    const inputs = sequences.flatMap((s) => s.slice(0, -1));
    const targets = sequences.flatMap((s) => s.slice(1));
    const logits = decoderLogits(model, tf.tensor2d(inputs, [BATCH, length], 'int32'));
    return crossEntropy(
      logits,
      tf.tensor2d(targets, [BATCH, length], 'int32'),
      tf.tensor2d(weights, [BATCH, length]),
    );
  });
}

/** Accuracy per half length and head roles; async because head scores use the traced forward. */
export async function inductionMetrics(model: Model): Promise<Record<string, unknown>> {
  const perHalf = evaluationSets(model.config.vocabSize).map((s) => ({
    half: s.half,
    accuracy: repeatAccuracy(model, s.sequences, s.half),
  }));
  return {
    repeat_accuracy: perHalf.reduce((a, p) => a + p.accuracy, 0) / perHalf.length,
    repeat_accuracy_by_half: perHalf,
    ...(await inductionHeads(model)),
  };
}

export const induction: Recipe = {
  name: 'induction',
  title: 'Induction heads (2-layer, attention only)',
  description:
    'A 2-layer attention-only transformer (d = 64, 4 heads per layer, no MLP, no attention biases) trained by the project on strings repeated twice (random characters and Shakespeare snippets). Type a string twice (abcdefgabcdefg): layer 0 has heads that look at the previous character, layer 1 induction heads that look at the character after the earlier occurrence of the current one.',
  howTo:
    'Type any string twice (abcdefgabcdefg, or a sentence and then its start again). On the second copy, layer 1 head 1 makes each character attend to the character that followed it the first time, and that is what the model predicts next: watch the highlighted query row and the prediction list. Layer 0 heads look at the previous character, which is what lets layer 1 find "the character after". Ablate layer 1 head 1 to see the prediction fall.',
  // The sentence repeated: the last "e" attends to the " " after the first "the" (0.86 in layer 1
  // head 1) and the model predicts " " at 98% (measured on the shipped weights).
  example: { text: 'The cat sat on the mat. The cat sat on the', head: 'd1.1', query: 41 },
  seed: 11,
  schedule: {
    steps: 2500,
    warmupSteps: 50,
    peakLearningRate: 2e-3,
    finalLearningRate: 1e-4,
    clipNorm: 1,
  },
  evalEvery: 50,
  prepare() {
    const split = readShakespeare();
    const tokenizer = inductionTokenizer(split.train + split.validation);
    const vocab = tokenizer.vocabSize;
    const text = Int32Array.from(tokenizer.encode(split.train));
    const config = parseConfig({
      model_type: 'attention-lab',
      architecture: 'decoder-only',
      vocab_size: vocab,
      n_embd: 64,
      n_head: 4,
      n_layer: 2,
      n_positions: 2 * MAX_HALF,
      norm_placement: 'pre',
      position_embedding: 'learned',
      attention_only: true,
      attention_bias: false,
    });
    const validation = repeatedSequences(new Rng(77), 64, 24, vocab);
    return {
      config,
      tokenizer,
      tokensPerStep: BATCH * (MIN_HALF + MAX_HALF),
      batchLoss: (model, rng) => batchLoss(model, rng, vocab, text),
      validationLoss: (model) =>
        tf.tidy(() => {
          const ids = tf.tensor2d(validation.flat(), [validation.length, 48], 'int32');
          const logits = tf.slice(
            decoderLogits(model, ids),
            [0, 24, 0],
            [-1, 23, -1],
          ) as tf.Tensor3D;
          const targets = tf.slice(ids, [0, 25], [-1, 23]) as tf.Tensor2D;
          return crossEntropy(logits, targets).dataSync()[0];
        }),
      metrics: inductionMetrics,
      data: {
        generator: `seeded; each step ${BATCH} strings of h characters repeated twice, h uniform in ${MIN_HALF}–${MAX_HALF} per batch; each string is random (${vocab} characters, with replacement) or a snippet of the Tiny Shakespeare training split, with probability ½`,
        loss: 'next-token cross-entropy at every position of text strings, on the second copy (h … 2h−2) of random ones',
        validation_curve: 'loss on the second copy of 64 fixed random strings with h = 24',
      },
    };
  },
};
