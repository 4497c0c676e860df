/** Checks shared by the tokenizer file loaders; each failure names the field that is wrong. */

import { found } from '../jsonValue';
import { TokenizerError } from './types';

export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function stringArrayField(json: JsonObject, field: string, file: string): string[] {
  const value = json[field];
  if (!Array.isArray(value)) throw new TokenizerError(`${file}: "${field}" must be an array`);
  value.forEach((item, i) => {
    if (typeof item !== 'string' || item.length === 0) {
      throw new TokenizerError(`${file}: "${field}"[${i}] must be a non-empty string`);
    }
  });
  return value as string[];
}

/**
 * `special_tokens`: name -> integer id, ids distinct and below the vocabulary size, which may
 * depend on how many special tokens there are.
 */
export function specialTokensField(
  json: JsonObject,
  vocabSizeWith: (specialCount: number) => number,
  file: string,
): Record<string, number> {
  const value = json.special_tokens ?? {};
  if (!isJsonObject(value)) {
    throw new TokenizerError(`${file}: "special_tokens" must be an object of name -> id`);
  }
  const vocabSize = vocabSizeWith(Object.keys(value).length);
  const seen = new Set<number>();
  for (const [name, id] of Object.entries(value)) {
    if (name.length === 0) throw new TokenizerError(`${file}: a special token has an empty name`);
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new TokenizerError(
        `${file}: the id of special token "${name}" must be an integer in [0, ${vocabSize}), but ${found(id)}`,
      );
    }
    if (seen.has(id)) throw new TokenizerError(`${file}: two special tokens share id ${id}`);
    seen.add(id);
  }
  return { ...(value as Record<string, number>) };
}

/** Throws unless `id` is a valid token id; used by every `decode` and `piece`. */
export function checkTokenId(id: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new TokenizerError(
      `token id ${id} is outside the vocabulary [0, ${vocabSize})`,
      'bad-id',
    );
  }
}
