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

/** One value per (query word, key word) cell, computed from the piece indices of both words. */
function perWordCell(
  queryGroups: number[][],
  keyGroups: number[][],
  cell: (queryPieces: number[], keyPieces: number[]) => number,
): Float32Array {
  const out = new Float32Array(queryGroups.length * keyGroups.length);
  queryGroups.forEach((qg, qw) => {
    keyGroups.forEach((kg, kw) => {
      out[qw * keyGroups.length + kw] = cell(qg, kg);
    });
  });
  return out;
}

/** Aggregate a `[queries, keys]` attention matrix to `[queryWords, keyWords]`. */
export function aggregateToWords(
  probs: ArrayLike<number>,
  nKeys: number,
  queryGroups: number[][],
  keyGroups: number[][],
): Float32Array {
  return perWordCell(queryGroups, keyGroups, (qg, kg) => {
    let sum = 0;
    for (const i of qg) for (const j of kg) sum += probs[i * nKeys + j];
    return sum / qg.length;
  });
}

/** A word-level cell is masked when every piece pair in it is. */
export function aggregateMask(
  mask: ArrayLike<number>,
  nKeys: number,
  queryGroups: number[][],
  keyGroups: number[][],
): Float32Array {
  return perWordCell(queryGroups, keyGroups, (qg, kg) =>
    qg.some((i) => kg.some((j) => mask[i * nKeys + j] !== 0)) ? 1 : 0,
  );
}
