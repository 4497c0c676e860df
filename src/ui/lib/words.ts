/**
 * Subword → word aggregation. A word is a run of pieces where only the first starts with a space
 * (GPT-2 pieces arrive with Ġ already turned into a space; SentencePiece's ▁ counts as one too).
 * Byte pieces (`<0xF0>`) are read as the characters they complete, so an emoji split over four
 * byte tokens is part of its word and shows as itself.
 * Attention *to* a word is the sum over its pieces (the mass the query puts on it); attention
 * *from* a word is the average over its pieces (so rows still sum to 1).
 */

import { completeBytePieces } from '../../model/tokenizer/readable';

const WORD_START = /^[\s\u2581]/;
const ALL_SPACE = /^[\s\u2581]+$/;
/** Special tokens such as `<|endoftext|>`, `</s>`, `<pad>` stand alone. */
const SPECIAL = /^<[^<>\s]+>$/;
const BYTE = /^<0x[0-9A-F]{2}>$/;

function isSpecial(piece: string | undefined): boolean {
  return piece !== undefined && SPECIAL.test(piece) && !BYTE.test(piece);
}

/** Groups of piece indices, one per word, in order. */
export function wordGroups(pieces: string[]): number[][] {
  const groups: number[][] = [];
  const texts = completeBytePieces(pieces);
  pieces.forEach((piece, i) => {
    const startsWord =
      i === 0 ||
      isSpecial(piece) ||
      isSpecial(pieces[i - 1]) ||
      // A bare space (character tokenizers) joins the word that follows it.
      (WORD_START.test(texts[i]) && !ALL_SPACE.test(texts[i - 1]));
    if (startsWord) groups.push([i]);
    else groups[groups.length - 1].push(i);
  });
  return groups;
}

/** A word's text, its byte pieces read as characters. */
export function wordText(pieces: string[], group: number[]): string {
  return completeBytePieces(group.map((i) => pieces[i])).join('');
}

/**
 * The `n` pieces as runs of consecutive pieces of one word (every piece is in one of `groups`):
 * `[start, end, word]` triples, one per word where words are contiguous, as wordGroups makes them.
 */
function wordRuns(groups: number[][], n: number): Int32Array {
  const word = new Int32Array(n);
  groups.forEach((g, w) => {
    for (const i of g) word[i] = w;
  });
  const runs: number[] = [];
  for (let j = 0; j < n; j++) {
    if (j > 0 && word[j] === word[j - 1]) runs[runs.length - 2] = j + 1;
    else runs.push(j, j + 1, word[j]);
  }
  return Int32Array.from(runs);
}

/**
 * Aggregate a `[queries, keys]` attention matrix to `[queryWords, keyWords]`. It reads the matrix
 * once, row by row, summing each word's run of keys: at 1,024 tokens a head is a million cells,
 * and visiting them cell by word cell took most of a frame (docs/performance.md, "Long inputs").
 */
export function aggregateToWords(
  probs: ArrayLike<number>,
  nKeys: number,
  queryGroups: number[][],
  keyGroups: number[][],
): Float32Array {
  const nWords = keyGroups.length;
  const runs = wordRuns(keyGroups, nKeys);
  const out = new Float32Array(queryGroups.length * nWords);
  const sum = new Float64Array(nWords);
  queryGroups.forEach((qg, qw) => {
    sum.fill(0);
    for (const i of qg) {
      const row = i * nKeys;
      for (let r = 0; r < runs.length; r += 3) {
        let run = 0;
        for (let j = row + runs[r]; j < row + runs[r + 1]; j++) run += probs[j];
        sum[runs[r + 2]] += run;
      }
    }
    for (let kw = 0; kw < nWords; kw++) out[qw * nWords + kw] = sum[kw] / qg.length;
  });
  return out;
}

/** The last mask aggregated, by mask: every head of a layer shares it (one per layer and run). */
const maskCache = new WeakMap<object, { groups: number[][][]; out: Float32Array }>();

/**
 * A word-level cell is masked when every piece pair in it is. The array may be the one an earlier
 * call returned for this mask (read it, do not change it).
 */
export function aggregateMask(
  mask: ArrayLike<number>,
  nKeys: number,
  queryGroups: number[][],
  keyGroups: number[][],
): Float32Array {
  const cached = maskCache.get(mask);
  if (cached && sameGroups(cached.groups, [queryGroups, keyGroups])) return cached.out;
  const nWords = keyGroups.length;
  const runs = wordRuns(keyGroups, nKeys);
  const out = new Float32Array(queryGroups.length * nWords);
  queryGroups.forEach((qg, qw) => {
    const at = qw * nWords;
    for (const i of qg) {
      const row = i * nKeys;
      for (let r = 0; r < runs.length; r += 3) {
        if (out[at + runs[r + 2]] === 1) continue;
        // Most cells of a causal mask are decided by their first pair.
        for (let j = row + runs[r]; j < row + runs[r + 1]; j++) {
          if (mask[j] !== 0) {
            out[at + runs[r + 2]] = 1;
            break;
          }
        }
      }
    }
  });
  maskCache.set(mask, { groups: [queryGroups, keyGroups], out });
  return out;
}

function sameGroups(a: number[][][], b: number[][][]): boolean {
  return a.every(
    (groups, axis) =>
      groups.length === b[axis].length &&
      groups.every(
        (g, w) => g.length === b[axis][w].length && g.every((i, k) => i === b[axis][w][k]),
      ),
  );
}
