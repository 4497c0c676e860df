/**
 * The tokenizer explorer's answer: how a text (or one token's own text) becomes tokens, in the
 * terms of the tokenizer's scheme. Byte-pair encodings show every split from the bytes (or
 * characters) to the tokens, one merge rule at a time (`Tokenizer.explain`); SentencePiece shows
 * its pieces with their scores in the model; anything else shows the pieces and ids it gives.
 */
import type { Tokenizer } from './types';

/** One split of the text: its pieces after the merge `merged` (null for the first split). */
export interface MergeStep {
  pieces: string[];
  merged: [left: string, right: string] | null;
}

export type TokenExplanation =
  | { scheme: 'bpe'; text: string; ids: number[]; steps: MergeStep[] }
  | {
      scheme: 'sentencepiece';
      text: string;
      ids: number[];
      /** The pieces and their scores: a unigram model's log-probabilities, summed by Viterbi. */
      pieces: { piece: string; score: number }[];
    }
  /** A scheme with nothing more to show (characters), or a library that exposes no more. */
  | { scheme: 'pieces'; text: string; ids: number[]; pieces: string[]; note: string };

/** The token each step of a split made: the first piece that differs from the split before. */
export function mergesOf(splits: string[][]): MergeStep[] {
  return splits.map((pieces, s) => {
    if (s === 0) return { pieces, merged: null };
    const before = splits[s - 1];
    const at = pieces.findIndex((p, i) => p !== before[i]);
    return { pieces, merged: [before[at], before[at + 1]] };
  });
}

/** The ids `encode` gives for `text`, without the end-of-sequence some schemes append. */
function idsOf(tokenizer: Tokenizer, text: string): number[] {
  const ids = tokenizer.encode(text);
  return tokenizer.appendsEos ? ids.slice(0, -1) : ids;
}

const NOTES: Partial<Record<Tokenizer['kind'], string>> = {
  chars: 'one token per character: nothing is merged',
  hf: 'this tokenizer.json is WordPiece: @huggingface/tokenizers exposes its tokens and ids, no scores',
};

export function explainText(tokenizer: Tokenizer, text: string): TokenExplanation {
  const ids = idsOf(tokenizer, text);
  if (tokenizer.explain) {
    return { scheme: 'bpe', text, ids, steps: mergesOf(tokenizer.explain(text)) };
  }
  if (tokenizer.scoredPieces) {
    return { scheme: 'sentencepiece', text, ids, pieces: tokenizer.scoredPieces(text) };
  }
  const note = NOTES[tokenizer.kind] ?? 'the tokenizer exposes its tokens and ids only';
  return { scheme: 'pieces', text, ids, pieces: ids.map((id) => tokenizer.piece(id)), note };
}

/** How the text of token `id` is tokenized on its own. */
export function explainToken(tokenizer: Tokenizer, id: number): TokenExplanation {
  return explainText(tokenizer, tokenizer.decode([id]));
}
