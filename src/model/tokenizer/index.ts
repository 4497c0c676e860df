/** Entry point for loading tokenizers: the worker and the training scripts import from here. */

import { BpeTokenizer } from './bpe';
import { CharsTokenizer } from './chars';
import type { Gpt2Tokenizer } from './gpt2';
import { found } from '../jsonValue';
import { isJsonObject } from './json';
import { TokenizerError, type Tokenizer } from './types';

export { BpeTokenizer, trainBpe, type BpeJson, type BpeTrainOptions } from './bpe';
export { CharsTokenizer, DEFAULT_CHARS_SPECIAL_TOKENS, type CharsJson } from './chars';
export type { Gpt2Tokenizer } from './gpt2';
export type { HfPairEncoding, HfSpecialIds, HfTokenizer } from './hf';
export { hfTokenizer, hfTokenizerOfRepo, type HfTokenizerFiles } from './hfFiles';
export { buildEncoderInput, type EncoderInput } from './hfInput';
export { isHfTokenizerJson, type HfScheme } from './hfJson';
export { marianTokenizer, MarianTokenizer, type MarianTokenizerOptions } from './marian';
export { TokenizerError, type Tokenizer, type TokenizerKind } from './types';

/** Validates a parsed `lab-tokenizer.json` (ours) and builds the tokenizer its `type` names. */
export function tokenizerFromJson(json: unknown): Tokenizer {
  if (!isJsonObject(json)) {
    throw new TokenizerError('lab-tokenizer.json: expected a JSON object with a "type" field');
  }
  switch (json.type) {
    case 'byte-bpe':
      return BpeTokenizer.fromJson(json);
    case 'chars':
      return CharsTokenizer.fromJson(json);
    default:
      throw new TokenizerError(
        `lab-tokenizer.json: "type" must be "byte-bpe" or "chars" (GPT-2 checkpoints use gpt2Tokenizer()), but ${found(json.type)}`,
      );
  }
}

/**
 * GPT-2's tokenizer. Asynchronous because its 50k-token table is loaded on first use, so bundles
 * that never run GPT-2 do not carry it.
 */
export async function gpt2Tokenizer(): Promise<Gpt2Tokenizer> {
  const gpt2 = await import('./gpt2');
  return new gpt2.Gpt2Tokenizer();
}
