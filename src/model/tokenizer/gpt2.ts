/**
 * GPT-2's own tokenizer (tiktoken's `r50k_base`), from the `gpt-tokenizer` package, for the GPT-2
 * checkpoints. Importing this module loads the 50k-token table (about 0.6 MB of script), which is
 * why `index.ts` imports it lazily.
 */

import r50k from 'gpt-tokenizer/encoding/r50k_base';
import r50kTokens from 'gpt-tokenizer/bpeRanks/r50k_base';
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

  piece(id: number): string {
    checkTokenId(id, this.vocabSize);
    if (id === END_OF_TEXT_ID) return END_OF_TEXT;
    // The table holds a token's text, or its bytes when they are not valid UTF-8 on their own.
    const token = r50kTokens[id];
    return typeof token === 'string' ? readableText(token) : readableBytes(Uint8Array.from(token));
  }
}
