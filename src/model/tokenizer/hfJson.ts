/**
 * Recognizing a Hugging Face `tokenizer.json` without loading the library that runs it (the
 * worker imports `hf.ts` only when a checkpoint needs it).
 */

import { isJsonObject, type JsonObject } from './json';

/** The model inside the file, as its `model.type` says (`byte-bpe`: BPE over GPT-2's bytes). */
export type HfScheme = 'byte-bpe' | 'bpe' | 'wordpiece' | 'unigram';

export const HF_MODEL_TYPES: Readonly<Record<string, HfScheme>> = {
  BPE: 'bpe',
  WordPiece: 'wordpiece',
  Unigram: 'unigram',
};

/**
 * True when `json` is a Hugging Face tokenizer.json rather than one of the project's own files
 * (which carry a top-level `type`): it has a `model` object whose `type` the library knows.
 */
export function isHfTokenizerJson(json: unknown): json is JsonObject {
  return (
    isJsonObject(json) &&
    isJsonObject(json.model) &&
    typeof json.model.type === 'string' &&
    json.model.type in HF_MODEL_TYPES
  );
}
