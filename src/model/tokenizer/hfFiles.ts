/**
 * Loading a Hugging Face tokenizer from a repo's files. Asynchronous because
 * `@huggingface/tokenizers` is imported on first use, as GPT-2's table is: bundles that never
 * run such a model do not carry it.
 */

import type { HfTokenizer } from './hf';
import { isHfTokenizerJson } from './hfJson';
import { isJsonObject } from './json';
import { parseJson, TokenizerError, type ReadFile } from './types';

/** A Hugging Face repo's tokenizer files: parsed JSON, and `vocab.txt` as text. */
export interface HfTokenizerFiles {
  tokenizerJson?: unknown;
  /** BERT repos without tokenizer.json: one token a line. */
  vocabTxt?: string;
  /** Names the special tokens; for vocab.txt, `do_lower_case` and `strip_accents`. */
  tokenizerConfig?: unknown;
}

/**
 * A Hugging Face tokenizer from `tokenizer.json`, else from `vocab.txt` (WordPiece).
 * Asynchronous because `@huggingface/tokenizers` is loaded on first use, as GPT-2's table is.
 */
export async function hfTokenizer(files: HfTokenizerFiles): Promise<HfTokenizer> {
  if (files.tokenizerJson !== undefined) {
    const { HfTokenizer } = await import('./hf');
    return HfTokenizer.fromJson(files.tokenizerJson, files.tokenizerConfig);
  }
  if (files.vocabTxt !== undefined) {
    const { hfTokenizerFromVocabTxt } = await import('./hfVocab');
    return hfTokenizerFromVocabTxt(files.vocabTxt, files.tokenizerConfig);
  }
  throw new TokenizerError('a Hugging Face tokenizer needs tokenizer.json or vocab.txt');
}

/**
 * The tokenizer of a Hugging Face repo (BERT, Llama, Qwen2, GPT-Neo, …): `tokenizer.json` in the
 * library's schema, else `vocab.txt` (WordPiece); `tokenizer_config.json`, when present, names
 * the special tokens and BERT's casing. Null when the repo has neither file (the model then
 * takes ids). Reads only what it needs: `vocab.txt` is not asked for when `tokenizer.json` exists.
 */
export async function hfTokenizerOfRepo(read: ReadFile): Promise<HfTokenizer | null> {
  const configBytes = await read('tokenizer_config.json');
  const config = configBytes ? parseJson(configBytes, 'tokenizer_config.json') : {};
  const tokenizerConfig = isJsonObject(config) ? config : {};
  const jsonBytes = await read('tokenizer.json');
  if (jsonBytes) {
    const tokenizerJson = parseJson(jsonBytes, 'tokenizer.json');
    if (!isHfTokenizerJson(tokenizerJson)) {
      throw new TokenizerError(
        'tokenizer.json is not a Hugging Face tokenizer file (no "model" of type BPE, WordPiece or Unigram)',
      );
    }
    return hfTokenizer({ tokenizerJson, tokenizerConfig });
  }
  const vocab = await read('vocab.txt');
  return vocab ? hfTokenizer({ vocabTxt: new TextDecoder().decode(vocab), tokenizerConfig }) : null;
}
