/**
 * The input of the standard induction test (Olsson et al., 2022, "In-context learning and
 * induction heads"): random tokens, each drawn once, then the same tokens again. A head that
 * attends from each token of the second half to the token after its first occurrence is an
 * induction head (`inductionScore` in headMetrics.ts).
 *
 * The input box holds text, so the tokens must come back from their text unchanged: a token is
 * kept only while the text of the sequence so far encodes to exactly the sequence so far (and
 * only tokens that read as text: no control characters, no bytes cut from a character).
 */
import { Rng } from '../random';
import type { Tokenizer } from '../tokenizer';

export interface RepeatedTokens {
  /** The text of the tokens twice (or, for a model without a tokenizer, the ids themselves). */
  text: string;
  /** The first half's ids. */
  ids: number[];
}

/** Control characters and the replacement character (a byte cut from its character). */
const UNREADABLE = /[\p{Cc}\uFFFD]/u;

/** Draws per kept token before giving up (most vocabularies keep most of their tokens). */
const ATTEMPTS_PER_TOKEN = 50;

function sameIds(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** `length` distinct random tokens (seeded), and their text repeated twice. */
export function repeatedRandomTokens(
  tokenizer: Tokenizer | null,
  vocabSize: number,
  length: number,
  seed: number,
): RepeatedTokens {
  const rng = new Rng(seed);
  const n = Math.min(length, vocabSize);
  if (!tokenizer) {
    const ids: number[] = [];
    while (ids.length < n) {
      const id = rng.int(vocabSize);
      if (!ids.includes(id)) ids.push(id);
    }
    return { ids, text: [...ids, ...ids].join(' ') };
  }
  const encode = (text: string) => {
    const ids = tokenizer.encode(text);
    return tokenizer.appendsEos ? ids.slice(0, -1) : ids;
  };
  const roundTrips = (ids: number[]) => sameIds(encode(tokenizer.decode(ids)), ids);
  const ids: number[] = [];
  for (let tries = 0; ids.length < n && tries < n * ATTEMPTS_PER_TOKEN; tries++) {
    const id = rng.int(vocabSize);
    const text = tokenizer.decode([id]);
    if (ids.includes(id) || !text.trim() || UNREADABLE.test(text)) continue;
    if (roundTrips([...ids, id])) ids.push(id);
  }
  // The seam between the two copies may merge: drop tokens from the end until it does not.
  while (ids.length > 1 && !roundTrips([...ids, ...ids])) ids.pop();
  return { ids, text: tokenizer.decode([...ids, ...ids]) };
}
