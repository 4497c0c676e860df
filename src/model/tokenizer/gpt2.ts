/**
 * GPT-2's own tokenizer (tiktoken's `r50k_base`), from the `gpt-tokenizer` package, for the GPT-2
 * checkpoints. Importing this module loads the 50k-token table (about 0.6 MB of script), which is
 * why `index.ts` imports it lazily.
 */

import r50k from 'gpt-tokenizer/encoding/r50k_base';
import r50kTokens from 'gpt-tokenizer/bpeRanks/r50k_base';
import { pretokenize } from './byteLevel';
import { checkTokenId } from './json';
import { readableBytes, readableText } from './readable';
import type { Tokenizer } from './types';

const END_OF_TEXT = '<|endoftext|>';
const END_OF_TEXT_ID = 50256;

/** `<|endoftext|>` in the input is ordinary text here; add `eosId` yourself. */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

export class Gpt2Tokenizer implements Tokenizer {
  readonly kind = 'gpt2';
  readonly vocabSize = r50k.vocabularySize;
  readonly eosId = END_OF_TEXT_ID;

  encode(text: string): number[] {
    return r50k.encode(text, PLAIN_TEXT);
  }

  decode(ids: number[]): string {
    for (const id of ids) checkTokenId(id, this.vocabSize);
    return r50k.decode(ids);
  }

  /**
   * How `word` splits (see `Tokenizer.explain`), as tiktoken merges: each pre-token starts as its
   * bytes, then the adjacent pair whose joined bytes are the lowest-ranked token merges (a
   * token's rank is its id), everywhere at once, until no joined pair is a token.
   */
  explain(word: string): string[][] {
    const ranks = byteRanks();
    let chunks = pretokenize(word).map((w) => Array.from(utf8.encode(w), (b) => [b]));
    const split = () => chunks.flat().map((bytes) => readableBytes(Uint8Array.from(bytes)));
    const steps = [split()];
    for (;;) {
      let best = Infinity;
      for (const symbols of chunks) {
        for (let i = 0; i + 1 < symbols.length; i++) {
          best = Math.min(best, ranks.get(key([...symbols[i], ...symbols[i + 1]])) ?? Infinity);
        }
      }
      if (best === Infinity) return steps;
      chunks = chunks.map((symbols) => mergeRank(symbols, ranks, best));
      steps.push(split());
    }
  }

  piece(id: number): string {
    checkTokenId(id, this.vocabSize);
    if (id === END_OF_TEXT_ID) return END_OF_TEXT;
    // The table holds a token's text, or its bytes when they are not valid UTF-8 on their own.
    const token = r50kTokens[id];
    return typeof token === 'string' ? readableText(token) : readableBytes(Uint8Array.from(token));
  }
}

const utf8 = new TextEncoder();

/** A byte sequence as a Map key: one UTF-16 unit per byte. */
const key = (bytes: number[]): string => String.fromCharCode(...bytes);

let ranksByBytes: Map<string, number> | null = null;

/** Each token's bytes → its rank (= id), built on the first `explain`. */
function byteRanks(): Map<string, number> {
  if (!ranksByBytes) {
    ranksByBytes = new Map();
    r50kTokens.forEach((token, rank) => {
      const bytes = typeof token === 'string' ? utf8.encode(token) : token;
      ranksByBytes!.set(key(Array.from(bytes)), rank);
    });
  }
  return ranksByBytes;
}

/** `symbols` with every non-overlapping adjacent pair that joins into token `rank` joined. */
function mergeRank(symbols: number[][], ranks: Map<string, number>, rank: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < symbols.length; i++) {
    const joined = i + 1 < symbols.length ? [...symbols[i], ...symbols[i + 1]] : null;
    if (joined && ranks.get(key(joined)) === rank) {
      out.push(joined);
      i++;
    } else {
      out.push(symbols[i]);
    }
  }
  return out;
}
