/**
 * The induction probe: random tokens written twice, and the scores that name a head a
 * previous-token or an induction head. The induction model's recipe and the language models'
 * metrics use the same probe, so their training.json figures compare.
 */
import { Rng } from '../../src/model/random';
import { runForward, type Model } from '../../src/model/model';
import { row } from '../../src/model/trace';
import { headMetrics } from '../../src/model/analysis/headMetrics';

/** Half lengths of the evaluation sequences, 50 sequences each. */
export const EVALUATION_HALVES = [8, 16, 24, 32];
const EVALUATION_PER_HALF = 50;
/**
 * A head is named a previous-token or induction head when its score is at least this: 2.5× what
 * uniform causal attention scores on the h = 24 probe (0.08 and 0.03).
 */
export const HEAD_THRESHOLD = 0.2;

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

/** Half length of the text probe's spans (scripts/torch/train_lm.py's `probe_sets` matches). */
export const TEXT_HALF = 50;

/** `count` spans of `half` tokens of `ids`, evenly spaced from the start, each written twice. */
export function repeatedSpans(ids: ArrayLike<number>, count: number, half: number): number[][] {
  const gap = Math.floor((ids.length - half) / count);
  return Array.from({ length: count }, (_, i) => {
    const span = Array.from(ids).slice(i * gap, i * gap + half);
    return [...span, ...span];
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
 * The heads at or above HEAD_THRESHOLD on the h = 24 probe, and every head's scores; with `text`
 * (a token stream, e.g. the validation split), also each head's induction score on 16 spans of it
 * written twice (TEXT_HALF tokens each), where copying competes with what the text itself predicts.
 */
export async function inductionHeads(
  model: Model,
  text?: ArrayLike<number>,
): Promise<Record<string, unknown>> {
  const probe = evaluationSets(model.config.vocabSize)[2];
  const scores = await headScores(model, probe.sequences.slice(0, 16), probe.half);
  const onText = text ? await headScores(model, repeatedSpans(text, 16, TEXT_HALF), TEXT_HALF) : [];
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const named = (list: HeadScores[], key: 'previousToken' | 'induction') =>
    list.filter((s) => s[key] >= HEAD_THRESHOLD).map((s) => `${s.layer}.${s.head}`);
  return {
    previous_token_heads: named(scores, 'previousToken'),
    induction_heads: named(scores, 'induction'),
    head_scores: scores.map((s, i) => ({
      head: `${s.layer}.${s.head}`,
      previous_token: round(s.previousToken),
      induction: round(s.induction),
      ...(text ? { text_induction: round(onText[i].induction) } : {}),
    })),
    head_score_method: `mean attention over 16 evaluation sequences (h = ${probe.half}): previous_token = p(i → i−1) over all i ≥ 1; induction = p(i → i−h+1) over the second copy; heads are named "layer.head" and listed at ≥ ${HEAD_THRESHOLD}`,
    ...(text
      ? {
          text_induction_heads: named(onText, 'induction'),
          text_score_method: `text_induction = p(i → i−h+1) over the second copy of 16 evenly spaced validation spans of h = ${TEXT_HALF} tokens, each written twice`,
        }
      : {}),
  };
}
