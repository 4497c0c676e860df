/**
 * The language-model twins: the same small GPT on Tiny Shakespeare, once pre-norm and once
 * post-norm. Same data, tokenizer, initial weights, batches, schedule and steps; the only
 * difference is where the LayerNorms sit (and so that post-norm has no final LayerNorm).
 * PyTorch trains them (scripts/torch/, docs/training.md); the tfjs trainer runs the same recipe
 * with `--trainer tfjs`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { parseConfig, type NormPlacement } from '../../src/model/config';
import { decoderLogits, type Model } from '../../src/model/model';
import { trainBpe, type Tokenizer } from '../../src/model/tokenizer';
import {
  consecutiveWindows,
  evaluateLoss,
  languageModelLoss,
  sampleWindows,
  type Schedule,
  type TokenBatch,
} from '../../src/model/train';
import type { ModelExample } from '../../src/workers/protocol';
import { inductionHeads } from './inductionProbe';
import type { Recipe } from './recipe';

const ROOT = join(import.meta.dirname, '..', '..');
/** Shared data lives next to the repository, never in it. */
export const CORPUS_PATH = join(ROOT, '..', 'shared', 'data', 'tinyshakespeare.txt');

export const CONTEXT = 128;
const BATCH = 32;
/** Rows of each batch that are a text span written twice, so that copying pays (induction). */
const REPEATED_ROWS = 0.1;
const VOCAB = 2048;
/** Fraction of the corpus (its end, cut at a line break) held out for validation. */
const VALIDATION_FRACTION = 0.05;
/** The validation windows the loss curve and the shipped-model test use. */
export const VALIDATION_SLICE_WINDOWS = 16;
const EVAL_ROWS = 16;

export interface ShakespeareSplit {
  train: string;
  validation: string;
}

export function readShakespeare(): ShakespeareSplit {
  if (!existsSync(CORPUS_PATH)) {
    throw new Error(
      `Tiny Shakespeare not found at ${CORPUS_PATH}: put tinyshakespeare.txt in ../shared/data/ next to the repository`,
    );
  }
  const text = readFileSync(CORPUS_PATH, 'utf8');
  const cut = text.lastIndexOf('\n', Math.floor(text.length * (1 - VALIDATION_FRACTION))) + 1;
  return { train: text.slice(0, cut), validation: text.slice(cut) };
}

export const encodeAll = (tokenizer: Tokenizer, text: string) =>
  Int32Array.from(tokenizer.encode(text));

/** Mean loss on the first VALIDATION_SLICE_WINDOWS validation windows: the test's reference. */
export function validationSliceLoss(model: Model, validation: Int32Array): number {
  return evaluateLoss(
    model,
    consecutiveWindows(validation, CONTEXT, VALIDATION_SLICE_WINDOWS),
    EVAL_ROWS,
  );
}

/** Greedy continuation of `prompt`, for a glance at what the model learned. */
function greedy(model: Model, tokenizer: Tokenizer, prompt: string, tokens: number): string {
  const ids = tokenizer.encode(prompt);
  const start = ids.length;
  for (let i = 0; i < tokens; i++) {
    const window = ids.slice(-CONTEXT);
    const next = tf.tidy(() => {
      const logits = decoderLogits(model, tf.tensor2d([window], [1, window.length], 'int32'));
      return tf.argMax(tf.slice(logits, [0, window.length - 1, 0], [1, 1, -1]), -1).dataSync()[0];
    });
    ids.push(next);
  }
  return tokenizer.decode(ids.slice(start));
}

const SCHEDULE: Schedule = {
  steps: 1500,
  // Post-norm is said to need warmup; pre-norm gets the same one so that norm placement is the
  // only difference. (A first run warming up over 100 steps to 1.5e-3 left post-norm at the
  // unigram loss from step 50 to 300, when it was stopped.)
  warmupSteps: 200,
  peakLearningRate: 1.5e-3,
  finalLearningRate: 1.5e-4,
  clipNorm: 1,
};

const INDUCTION_SCHEDULE: Schedule = {
  steps: 800,
  warmupSteps: 50,
  peakLearningRate: 5e-4,
  finalLearningRate: 5e-5,
  clipNorm: 1,
};

/** Blocks written over and over: a constant rate, as the short experiment that found the heads. */
const FILLED_SCHEDULE: Schedule = {
  steps: 1100,
  warmupSteps: 20,
  peakLearningRate: 1e-3,
  finalLearningRate: 1e-3,
  clipNorm: 1,
};

const RECOVERY_SCHEDULE: Schedule = {
  steps: 600,
  warmupSteps: 50,
  peakLearningRate: 5e-4,
  finalLearningRate: 5e-5,
  clipNorm: 1,
};

const SETTLE_SCHEDULE: Schedule = {
  steps: 900,
  warmupSteps: 30,
  peakLearningRate: 3e-4,
  finalLearningRate: 3e-5,
  clipNorm: 1,
};

/**
 * First screens, measured on the shipped weights: after the repeated "KING RICHARD" both twins
 * predict " II" (pre-norm 95%, post-norm 86%); pre-norm's layer 3 head 4 looks from the second
 * " RICHARD" at the " II" that followed the first (1.00), post-norm's layer 2 head 5 too (0.98),
 * both induction heads on random tokens as well (docs/training.md). To re-tune after retraining
 * (tests/unit/first-screen.test.ts prints them).
 */
const EXAMPLE_TEXT = 'KING RICHARD II:\nMowbray, impeach him.\n\nKING RICHARD';
const EXAMPLES: Record<NormPlacement, ModelExample> = {
  pre: { text: EXAMPLE_TEXT, head: 'd3.4', query: 18 },
  post: { text: EXAMPLE_TEXT, head: 'd2.5', query: 18 },
};

/**
 * Overwrites the first `fraction` of the rows with their own first half written twice: the
 * second copy is predictable by looking back, which is what an induction head learns to do.
 */
export function repeatRows(batch: TokenBatch, fraction: number): TokenBatch {
  const [rows, length] = batch.shape;
  const half = length / 2;
  for (let r = 0; r < Math.floor(fraction * rows); r++) {
    const row = r * length;
    const span = [...batch.inputs.subarray(row, row + half)];
    const twice = [...span, ...span, span[0]];
    batch.inputs.set(twice.slice(0, length), row);
    batch.targets.set(twice.slice(1, length + 1), row);
  }
  return batch;
}

function shakespeareRecipe(norm: NormPlacement): Recipe {
  const where = norm === 'pre' ? 'before' : 'after';
  return {
    name: `lm-${norm}norm`,
    title: `Shakespeare LM (${norm}-norm)`,
    description: `A 4-layer, 6-head GPT (d = 192, context ${CONTEXT}, byte-level BPE of ${VOCAB} tokens) trained by the project on Tiny Shakespeare, with LayerNorm ${where} each sub-layer. Its twin differs only in norm placement.`,
    howTo:
      'Type text in the style of the plays, best a speaker and a line, then the speaker again ("KING RICHARD II:↵Mowbray, impeach him.↵↵KING RICHARD"). The model is small: it predicts the names and words it has seen often, and when a name repeats, its induction heads look back at what followed it the first time (try "repeat random tokens" in the Head metrics tab). Compare the pre- and post-norm twins in the LayerNorm & residuals tab.',
    example: EXAMPLES[norm],
    seed: 1234,
    schedule: SCHEDULE,
    evalEvery: 100,
    pytorch: {
      batch: BATCH,
      dropout: 0.2,
      weightDecay: 0.1,
      phases: [
        {
          schedule: SCHEDULE,
          seed: 1234,
          repeatedRows: REPEATED_ROWS,
          randomRepeatedRows: 0,
          keep: 'best',
        },
        // Phase 1 grew no induction head (docs/training.md): random tokens written twice, which
        // only copying predicts, grow one on top of the language model at a lower rate.
        {
          schedule: INDUCTION_SCHEDULE,
          seed: 4321,
          repeatedRows: REPEATED_ROWS,
          randomRepeatedRows: 0.3,
          keep: 'last',
        },
        // Phase 2 grew none either: one repeat per row gave too few copy targets. Rows that are
        // nothing but a short random block written over and over (every token after the first
        // copy scored), without dropout or weight decay, grow induction heads after ~500 steps
        // (docs/training.md) while the text loss climbs: the model copies everything.
        {
          schedule: FILLED_SCHEDULE,
          seed: 777,
          repeatedRows: 0,
          randomRepeatedRows: 0,
          filledRepeatedRows: 1,
          batch: 16,
          dropout: 0,
          weightDecay: 0,
          keep: 'last',
        },
        // Text again, a quarter of each batch still filled repeats so the heads stay.
        {
          schedule: RECOVERY_SCHEDULE,
          seed: 999,
          repeatedRows: REPEATED_ROWS,
          randomRepeatedRows: 0,
          filledRepeatedRows: 0.25,
          dropout: 0.1,
          keep: 'last',
        },
        // And longer at a lower rate, fewer filled repeats: the text loss was still falling.
        {
          schedule: SETTLE_SCHEDULE,
          seed: 2024,
          repeatedRows: REPEATED_ROWS,
          randomRepeatedRows: 0,
          filledRepeatedRows: 0.15,
          dropout: 0.1,
          keep: 'last',
        },
      ],
    },
    prepare() {
      const split = readShakespeare();
      const tokenizer = trainBpe(split.train, {
        vocabSize: VOCAB,
        specialTokens: ['<|endoftext|>'],
      });
      const train = encodeAll(tokenizer, split.train);
      const validation = encodeAll(tokenizer, split.validation);
      const config = parseConfig({
        model_type: 'attention-lab',
        architecture: 'decoder-only',
        vocab_size: tokenizer.vocabSize,
        n_embd: 192,
        n_head: 6,
        n_layer: 4,
        n_inner: 768,
        n_positions: CONTEXT,
        norm_placement: norm,
        position_embedding: 'learned',
        activation_function: 'gelu',
        eos_token_id: tokenizer.eosId,
      });
      return {
        config,
        tokenizer,
        tokensPerStep: BATCH * CONTEXT,
        tokenIds: { train, validation },
        batchLoss: (model, rng) =>
          languageModelLoss(
            model,
            repeatRows(sampleWindows(train, BATCH, CONTEXT, rng), REPEATED_ROWS),
          ),
        validationLoss: (model) => validationSliceLoss(model, validation),
        metrics: async (model) => {
          const all = consecutiveWindows(validation, CONTEXT);
          const valLoss = evaluateLoss(model, all, EVAL_ROWS);
          const valChars = tokenizer.decode(Array.from(all.targets)).length;
          return {
            val_loss: valLoss,
            val_tokens: all.targets.length,
            val_bits_per_char: (valLoss * all.targets.length) / valChars / Math.LN2,
            val_loss_slice: validationSliceLoss(model, validation),
            val_slice_windows: VALIDATION_SLICE_WINDOWS,
            train_loss: evaluateLoss(model, consecutiveWindows(train, CONTEXT, 64), EVAL_ROWS),
            greedy_sample: { prompt: 'ROMEO:\n', text: greedy(model, tokenizer, 'ROMEO:\n', 48) },
            ...(await inductionHeads(model, validation)),
          };
        },
        data: {
          corpus: 'tinyshakespeare.txt (public domain), read from ../shared/data/',
          split: `last ${VALIDATION_FRACTION * 100}% of characters (from a line break) held out for validation`,
          train_characters: split.train.length,
          validation_characters: split.validation.length,
          train_tokens: train.length,
          validation_tokens: validation.length,
          tokenizer: `byte-level BPE trained on the training split, ${tokenizer.vocabSize} tokens`,
          batch: `${BATCH} random windows of ${CONTEXT} tokens; the first ${REPEATED_ROWS * 100}% of them are their own first half written twice`,
          validation_curve: `first ${VALIDATION_SLICE_WINDOWS} validation windows`,
        },
      };
    },
  };
}

export const lmPrenorm = shakespeareRecipe('pre');
export const lmPostnorm = shakespeareRecipe('post');
