/**
 * induction: a 2-layer attention-only transformer trained on random strings repeated twice
 * ("qX7kqX7k"). The second copy is predictable only by finding the earlier occurrence of the
 * current token and copying what followed it: the induction circuit, a previous-token head in
 * layer 0 composed with an induction head in layer 1.
 *
 * Characters are drawn with replacement. With distinct characters (tried first) the model
 * reached 99% without any previous-token or induction head: "the earliest character of the
 * first copy not yet repeated" is then always the answer, and it learned that shortcut instead.
 * Repeats break the shortcut; they also make some predictions ambiguous (a character that occurs
 * twice in the first copy has two possible successors), so accuracy counts only the positions
 * whose character occurs once in the first copy.
 */
import * as tf from '@tensorflow/tfjs';
import { parseConfig } from '../../src/model/config';
import { Rng } from '../../src/model/init';
import { decoderLogits, runForward, type Model } from '../../src/model/model';
import { row } from '../../src/model/trace';
import { CharsTokenizer } from '../../src/model/tokenizer';
import { crossEntropy } from '../../src/model/train';
import { headMetrics } from '../../src/ui/lib/headMetrics';
import type { Recipe } from './recipe';

export const INDUCTION_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
export const inductionTokenizer = () => CharsTokenizer.fromTexts([INDUCTION_ALPHABET], {});

const MIN_HALF = 6;
const MAX_HALF = 32;
const BATCH = 32;
/** Half lengths of the evaluation sequences, 50 sequences each. */
export const EVALUATION_HALVES = [8, 16, 24, 32];
const EVALUATION_PER_HALF = 50;
/** A head is named a previous-token or induction head when its score is at least this. */
const HEAD_THRESHOLD = 0.4;

/** `count` sequences of `half` random tokens followed by the same tokens again. */
export function repeatedSequences(
  rng: Rng,
  count: number,
  half: number,
  vocab: number,
): number[][] {
  return Array.from({ length: count }, () => {
    const first = Array.from({ length: half }, () => rng.int(vocab));
    return [...first, ...first];
  });
}

/** The evaluation set: the same sequences for training.json and the shipped-model test. */
export function evaluationSets(
  vocab: number,
  seed = 4242,
): { half: number; sequences: number[][] }[] {
  const rng = new Rng(seed);
  return EVALUATION_HALVES.map((half) => ({
    half,
    sequences: repeatedSequences(rng, EVALUATION_PER_HALF, half, vocab),
  }));
}

/**
 * Accuracy of the argmax prediction on the second copy, at the positions t (half ≤ t ≤ 2·half−2)
 * where the answer is unambiguous: the token at t occurs once in the first copy, so the token
 * that followed it there is the only right prediction.
 */
export function repeatAccuracy(model: Model, sequences: number[][], half: number): number {
  const predicted = tf.tidy(() => {
    const ids = tf.tensor2d(sequences.flat(), [sequences.length, 2 * half], 'int32');
    return decoderLogits(model, ids).argMax(-1).arraySync() as number[][];
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

export interface HeadScores {
  layer: number;
  head: number;
  /** Mean attention from each token to the one before it. */
  previousToken: number;
  /** Mean attention, from the second copy, to the token after the current token's first occurrence. */
  induction: number;
}

/** Scores of every head from the attention patterns of the traced forward. */
export async function headScores(
  model: Model,
  sequences: number[][],
  half: number,
): Promise<HeadScores[]> {
  const scores: HeadScores[] = [];
  for (const seq of sequences) {
    const trace = await runForward(model, { ids: seq }, { logits: 'none' });
    const t = seq.length;
    trace.decoder!.layers.forEach((layer, l) => {
      const { probs, mask } = layer.attentions[0];
      for (let h = 0; h < model.config.nHeads; h++) {
        const p = row(probs, h);
        let induction = 0;
        for (let q = half; q < t; q++) induction += p[q * t + q - half + 1];
        let s = scores.find((x) => x.layer === l && x.head === h);
        if (!s) scores.push((s = { layer: l, head: h, previousToken: 0, induction: 0 }));
        s.previousToken += headMetrics(p, t, t, mask.data).previousToken / sequences.length;
        s.induction += induction / half / sequences.length;
      }
    });
  }
  return scores;
}

/**
 * Loss on the second copy only (positions h … 2h−2): the first copy is noise, whose only lesson
 * is the uniform distribution, and counting it dilutes the gradient toward the induction circuit.
 */
function batchLoss(model: Model, rng: Rng, vocab: number): tf.Scalar {
  const half = rng.between(MIN_HALF, MAX_HALF);
  const sequences = repeatedSequences(rng, BATCH, half, vocab);
  return tf.tidy(() => {
    const length = 2 * half - 1;
    const inputs = sequences.flatMap((s) => s.slice(0, -1));
    const targets = sequences.flatMap((s) => s.slice(1));
    const weights = Array.from({ length }, (_, t) => (t >= half ? 1 : 0));
    const logits = decoderLogits(model, tf.tensor2d(inputs, [BATCH, length], 'int32'));
    return crossEntropy(
      logits,
      tf.tensor2d(targets, [BATCH, length], 'int32'),
      tf.tensor2d(new Array<number[]>(BATCH).fill(weights).flat(), [BATCH, length]),
    );
  });
}

/** Accuracy per half length and head roles; async because head scores use the traced forward. */
export async function inductionMetrics(model: Model): Promise<Record<string, unknown>> {
  const sets = evaluationSets(model.config.vocabSize);
  const perHalf = sets.map((s) => ({
    half: s.half,
    accuracy: repeatAccuracy(model, s.sequences, s.half),
  }));
  const probe = sets[2];
  const scores = await headScores(model, probe.sequences.slice(0, 16), probe.half);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const named = (key: 'previousToken' | 'induction') =>
    scores.filter((s) => s[key] >= HEAD_THRESHOLD).map((s) => `${s.layer}.${s.head}`);
  return {
    repeat_accuracy: perHalf.reduce((a, p) => a + p.accuracy, 0) / perHalf.length,
    repeat_accuracy_by_half: perHalf,
    previous_token_heads: named('previousToken'),
    induction_heads: named('induction'),
    head_scores: scores.map((s) => ({
      head: `${s.layer}.${s.head}`,
      previous_token: round(s.previousToken),
      induction: round(s.induction),
    })),
    head_score_method: `mean attention over 16 evaluation sequences (h = ${probe.half}): previous_token = p(i → i−1) over all i ≥ 1; induction = p(i → i−h+1) over the second copy; heads are named "layer.head" and listed at ≥ ${HEAD_THRESHOLD}`,
  };
}

export const induction: Recipe = {
  name: 'induction',
  title: 'Induction heads (2-layer, attention only)',
  description:
    'A 2-layer attention-only transformer (d = 64, 4 heads per layer, no MLP, no attention biases) trained by the project on random strings of letters and digits repeated twice. Type a string twice (abcdefgabcdefg) and find the previous-token head in layer 0 and the induction head in layer 1.',
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
    const tokenizer = inductionTokenizer();
    const vocab = tokenizer.vocabSize;
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
      batchLoss: (model, rng) => batchLoss(model, rng, vocab),
      validationLoss: (model) =>
        tf.tidy(() => {
          const ids = tf.tensor2d(validation.flat(), [validation.length, 48], 'int32');
          const logits = decoderLogits(model, ids).slice([0, 24, 0], [-1, 23, -1]) as tf.Tensor3D;
          const targets = ids.slice([0, 25], [-1, 23]) as tf.Tensor2D;
          return crossEntropy(logits, targets).dataSync()[0];
        }),
      metrics: inductionMetrics,
      data: {
        generator: `seeded; each step ${BATCH} sequences of h random characters (of ${vocab}, with replacement) repeated twice, h uniform in ${MIN_HALF}–${MAX_HALF} per batch`,
        loss: 'next-token cross-entropy on the second copy (positions h … 2h−2), the only predictable part',
        validation_curve: 'loss on the second copy of 64 fixed sequences with h = 24',
      },
    };
  },
};
