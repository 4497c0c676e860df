/**
 * The input of a BERT-style encoder from the text box: one or two sentences, their token types,
 * and where the typed `[MASK]` tokens are. See docs/tokenizer.md.
 */

import type { HfTokenizer } from './hf';

/** Ids, token types and the positions of the mask token of one encoder input. */
export interface EncoderInput {
  ids: number[];
  tokenTypeIds: number[];
  maskPositions: number[];
}

/**
 * The encoder's input from the text box. Two sentences are separated by the separator token
 * typed as text (`the cat sat [SEP] it was tired`): the first gets token type 0, the second 1.
 * A `[CLS]` typed at the start and a `[SEP]` typed at the end are the ones the input gets anyway
 * and are not doubled. `[MASK]` typed anywhere is the mask token; its positions are returned.
 */
export function buildEncoderInput(tokenizer: HfTokenizer, text: string): EncoderInput {
  const { cls, sep, mask } = tokenizer.special;
  let rest = text.trim();
  let second: string | null = null;
  if (sep !== null) {
    const sepText = tokenizer.tokenText(sep);
    if (cls !== null && rest.startsWith(tokenizer.tokenText(cls))) {
      rest = rest.slice(tokenizer.tokenText(cls).length).trimStart();
    }
    if (rest.endsWith(sepText)) rest = rest.slice(0, -sepText.length).trimEnd();
    const at = rest.indexOf(sepText);
    if (at >= 0) {
      second = rest.slice(at + sepText.length).trim();
      rest = rest.slice(0, at).trim();
    }
  }
  const { ids, tokenTypeIds } = tokenizer.encodePair(rest, second);
  const maskPositions = ids.flatMap((id, i) => (id === mask ? [i] : []));
  return { ids, tokenTypeIds, maskPositions };
}
