/**
 * dates-seq2seq: an encoder–decoder that rewrites a date written one of many ways
 * ("March 5, 1999", "5 Mar 99", "05/03/1999", "the fifth of March 1999", …) as ISO 8601
 * ("1999-03-05"), character by character.
 *
 * Conventions the data fixes (a model can only learn an unambiguous mapping):
 *  - numeric dates are day first (05/03/1999 is the 5th of March), as in the example;
 *  - years run 1930–2029, so a two-digit year is 19yy from 30 up and 20yy below 30.
 * About one calendar day in 17 is never shown in training in any format; the held-out
 * examples are drawn from those days only.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseConfig } from '../../src/model/config';
import { Rng } from '../../src/model/random';
import { encoderDecoderLogits, type Model } from '../../src/model/model';
import { CharsTokenizer, DEFAULT_CHARS_SPECIAL_TOKENS } from '../../src/model/tokenizer';
import { crossEntropy } from '../../src/model/train';
import type { Recipe } from './recipe';

export const FIRST_YEAR = 1930;
export const LAST_YEAR = 2029;
const HELD_OUT_EVERY = 17;

export const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const UNITS = [
  'first',
  'second',
  'third',
  'fourth',
  'fifth',
  'sixth',
  'seventh',
  'eighth',
  'ninth',
  'tenth',
  'eleventh',
  'twelfth',
  'thirteenth',
  'fourteenth',
  'fifteenth',
  'sixteenth',
  'seventeenth',
  'eighteenth',
  'nineteenth',
];

/** 1 → "first", 22 → "twenty-second", 30 → "thirtieth". */
export function ordinalWord(day: number): string {
  if (day < 20) return UNITS[day - 1];
  const tens = day < 30 ? 'twenty' : 'thirty';
  if (day % 10 === 0) return day === 20 ? 'twentieth' : 'thirtieth';
  return `${tens}-${UNITS[(day % 10) - 1]}`;
}

/** 1 → "1st", 2 → "2nd", 11 → "11th", 23 → "23rd". */
export function ordinalNumber(day: number): string {
  const suffix =
    day % 10 === 1 && day !== 11
      ? 'st'
      : day % 10 === 2 && day !== 12
        ? 'nd'
        : day % 10 === 3 && day !== 13
          ? 'rd'
          : 'th';
  return `${day}${suffix}`;
}

export interface CalendarDate {
  year: number;
  month: number; // 1–12
  day: number;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

export function iso(d: CalendarDate): string {
  return `${d.year}-${pad2(d.month)}-${pad2(d.day)}`;
}

const utc = (d: CalendarDate) => Date.UTC(d.year, d.month - 1, d.day);
const DAY_MS = 86_400_000;
const FIRST_DAY = utc({ year: FIRST_YEAR, month: 1, day: 1 });
const DAY_COUNT = (utc({ year: LAST_YEAR, month: 12, day: 31 }) - FIRST_DAY) / DAY_MS + 1;

function dateOfDay(index: number): CalendarDate {
  const t = new Date(FIRST_DAY + index * DAY_MS);
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

export function isHeldOut(d: CalendarDate): boolean {
  return ((utc(d) - FIRST_DAY) / DAY_MS) % HELD_OUT_EVERY === 0;
}

/** The ways a date is written, given the date and its weekday. */
const FORMATS: ((d: CalendarDate, weekday: string) => string)[] = [
  (d) => `${MONTHS[d.month - 1]} ${d.day}, ${d.year}`,
  (d) => `${MONTHS[d.month - 1].slice(0, 3)} ${d.day}, ${d.year}`,
  (d) => `${MONTHS[d.month - 1].slice(0, 3)}. ${d.day}, ${d.year}`,
  (d) => `${d.day} ${MONTHS[d.month - 1]} ${d.year}`,
  (d) => `${d.day} ${MONTHS[d.month - 1].slice(0, 3)} ${pad2(d.year % 100)}`,
  (d) => `${pad2(d.day)}/${pad2(d.month)}/${d.year}`,
  (d) => `${d.day}/${d.month}/${pad2(d.year % 100)}`,
  (d) => `${pad2(d.day)}.${pad2(d.month)}.${d.year}`,
  (d) => `${d.day}-${MONTHS[d.month - 1].slice(0, 3)}-${d.year}`,
  (d) => `the ${ordinalWord(d.day)} of ${MONTHS[d.month - 1]} ${d.year}`,
  (d) => `${ordinalNumber(d.day)} ${MONTHS[d.month - 1]} ${d.year}`,
  (d) => `${MONTHS[d.month - 1]} ${ordinalNumber(d.day)}, ${d.year}`,
  (d, w) => `${w}, ${MONTHS[d.month - 1]} ${d.day}, ${d.year}`,
  (d, w) => `${w} ${d.day} ${MONTHS[d.month - 1]} ${d.year}`,
  (d) => `${d.year}-${pad2(d.month)}-${pad2(d.day)}`,
  (d) => `${d.year}/${pad2(d.month)}/${pad2(d.day)}`,
];

export interface DateExample {
  source: string;
  target: string;
}

/** One date written one way, chosen by `rng`; letters sometimes all lower or upper case. */
export function writeDate(d: CalendarDate, rng: Rng): string {
  const weekday = WEEKDAYS[new Date(utc(d)).getUTCDay()];
  const text = rng.pick(FORMATS)(d, weekday);
  const casing = rng.next();
  return casing < 0.15 ? text.toLowerCase() : casing < 0.25 ? text.toUpperCase() : text;
}

/** A random example, from the held-out days only or from the training days only. */
export function randomExample(rng: Rng, heldOut: boolean): DateExample {
  for (;;) {
    const d = dateOfDay(rng.int(DAY_COUNT));
    if (isHeldOut(d) === heldOut) return { source: writeDate(d, rng), target: iso(d) };
  }
}

/** `count` held-out examples from a fixed seed: the same list for training.json and the tests. */
export function heldOutExamples(count: number, seed = 2024): DateExample[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => randomExample(rng, true));
}

/** Every character any format can produce: the tokenizer's alphabet does not depend on sampling. */
export const DATES_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,./-';

export const datesTokenizer = () =>
  CharsTokenizer.fromTexts([DATES_ALPHABET], DEFAULT_CHARS_SPECIAL_TOKENS);

const PAD = DEFAULT_CHARS_SPECIAL_TOKENS['<pad>'];
const START = DEFAULT_CHARS_SPECIAL_TOKENS['<s>'];
const END = DEFAULT_CHARS_SPECIAL_TOKENS['</s>'];
/** "YYYY-MM-DD" and the end token. */
const TARGET_TOKENS = 11;
const BATCH = 128;

/** Sources padded to the longest one: `[B, S]`. */
function sourceTensor(tokenizer: CharsTokenizer, sources: string[]): tf.Tensor2D {
  const ids = sources.map((s) => tokenizer.encode(s));
  const width = Math.max(...ids.map((r) => r.length));
  const flat = ids.flatMap((r) => [...r, ...new Array<number>(width - r.length).fill(PAD)]);
  return tf.tensor2d(flat, [ids.length, width], 'int32');
}

/**
 * Greedy decoding of a batch: start from `<s>`, append the most likely character, stop at
 * `</s>` or after `maxTokens`. Returns the decoded strings.
 */
export function greedyDecode(
  model: Model,
  tokenizer: CharsTokenizer,
  sources: string[],
  maxTokens = TARGET_TOKENS,
): string[] {
  const src = sourceTensor(tokenizer, sources);
  const outputs: number[][] = sources.map(() => [START]);
  try {
    for (let t = 0; t < maxTokens; t++) {
      const next = tf.tidy(() => {
        const ids = tf.tensor2d(outputs.flat(), [outputs.length, t + 1], 'int32');
        const logits = encoderDecoderLogits(model, src, ids);
        return tf.argMax(tf.slice(logits, [0, t, 0], [-1, 1, -1]), -1).dataSync();
      });
      outputs.forEach((row, i) => row.push(next[i]));
    }
  } finally {
    src.dispose();
  }
  return outputs.map((row) => {
    const body = row.slice(1);
    const end = body.indexOf(END);
    return tokenizer.decode(end < 0 ? body : body.slice(0, end));
  });
}

/** Fraction of examples whose greedy decoding equals the ISO date exactly. */
export function exactMatch(
  model: Model,
  tokenizer: CharsTokenizer,
  examples: DateExample[],
): number {
  let right = 0;
  for (let i = 0; i < examples.length; i += 250) {
    const part = examples.slice(i, i + 250);
    const decoded = greedyDecode(
      model,
      tokenizer,
      part.map((e) => e.source),
    );
    decoded.forEach((d, j) => (right += d === part[j].target ? 1 : 0));
  }
  return right / examples.length;
}

/** Teacher-forced loss of a batch: decoder reads `<s>` + ISO date, predicts ISO date + `</s>`. */
function batchLoss(model: Model, tokenizer: CharsTokenizer, examples: DateExample[]): tf.Scalar {
  return tf.tidy(() => {
    const targets = examples.map((e) => [...tokenizer.encode(e.target), END]);
    const inputs = targets.map((t) => [START, ...t.slice(0, -1)]);
    const shape: [number, number] = [examples.length, TARGET_TOKENS];
    const logits = encoderDecoderLogits(
      model,
      sourceTensor(
        tokenizer,
        examples.map((e) => e.source),
      ),
      tf.tensor2d(inputs.flat(), shape, 'int32'),
    );
    return crossEntropy(logits, tf.tensor2d(targets.flat(), shape, 'int32'));
  });
}

export const HELD_OUT_EVALUATION = 1000;
/** The slice of the held-out list that the shipped-model test re-measures. */
export const HELD_OUT_TEST_SLICE = 200;

export const datesSeq2seq: Recipe = {
  name: 'dates-seq2seq',
  title: 'Dates → ISO (encoder–decoder)',
  description:
    'A 2+2-layer encoder–decoder (d = 64, 4 heads, characters) trained by the project to rewrite dates written many ways ("March 5, 1999", "5 Mar 99", "05/03/1999", "the fifth of March 1999") as ISO dates ("1999-03-05"). Numeric dates are read day first. Watch the cross-attention find the day, month and year.',
  howTo:
    'Type a date in the source box, in any form ("5 Mar 99", "the fifth of March 1999", "05/03/1999"), then press "generate next token" in the Step-through tab: the ISO date appears one character at a time and stops at the end token. The Encoder–decoder tab and the cross-attention heads (layer 1) show which source characters each output character reads: the month digits read the month name, the year digits the year.',
  // Halfway through the month: layer 1 cross-attention head 0 reads the "M" of "March" (0.99) and
  // the model writes "3" at 99.9% (measured on the shipped weights).
  example: { source: 'March 3, 1999', text: '1999-0', head: 'd1.0x', query: 6 },
  seed: 7,
  schedule: {
    steps: 1500,
    warmupSteps: 100,
    peakLearningRate: 2e-3,
    finalLearningRate: 1e-4,
    clipNorm: 1,
  },
  evalEvery: 100,
  prepare() {
    const tokenizer = datesTokenizer();
    const config = parseConfig({
      model_type: 'attention-lab',
      architecture: 'encoder-decoder',
      vocab_size: tokenizer.vocabSize,
      n_embd: 64,
      n_head: 4,
      n_layer: 2,
      n_encoder_layer: 2,
      n_inner: 256,
      n_positions: 64,
      norm_placement: 'pre',
      position_embedding: 'sinusoidal',
      scale_embedding: true,
      activation_function: 'gelu',
      pad_token_id: PAD,
      eos_token_id: END,
      decoder_start_token_id: START,
    });
    const validation = heldOutExamples(256, 99);
    return {
      config,
      tokenizer,
      tokensPerStep: BATCH * TARGET_TOKENS,
      batchLoss: (model, rng) =>
        batchLoss(
          model,
          tokenizer,
          Array.from({ length: BATCH }, () => randomExample(rng, false)),
        ),
      validationLoss: (model) => {
        const loss = batchLoss(model, tokenizer, validation);
        const value = loss.dataSync()[0];
        loss.dispose();
        return value;
      },
      metrics: (model) => {
        const examples = heldOutExamples(HELD_OUT_EVALUATION);
        const slice = examples.slice(0, HELD_OUT_TEST_SLICE);
        const decoded = greedyDecode(
          model,
          tokenizer,
          slice.slice(0, 8).map((e) => e.source),
        );
        return {
          heldout_exact_match: exactMatch(model, tokenizer, examples),
          heldout_examples: examples.length,
          heldout_exact_match_slice: exactMatch(model, tokenizer, slice),
          heldout_slice_examples: slice.length,
          samples: slice.slice(0, 8).map((e, i) => ({ ...e, decoded: decoded[i] })),
        };
      },
      data: {
        generator: `seeded; ${FORMATS.length} formats; 15% of examples lower-cased, 10% upper-cased; years ${FIRST_YEAR}–${LAST_YEAR}; numeric dates day first`,
        held_out: `calendar days with (days since ${FIRST_YEAR}-01-01) % ${HELD_OUT_EVERY} == 0 never appear in training`,
        batch: `${BATCH} fresh examples per step`,
        validation_curve: 'teacher-forced loss on 256 held-out examples',
      },
    };
  },
};
