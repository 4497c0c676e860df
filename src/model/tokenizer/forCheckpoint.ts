/**
 * Which tokenizer a checkpoint folder uses, from its config and the files it has: the one place
 * that decides, for the worker and for the scripts alike.
 *
 * | family          | tokenizer                                                              |
 * | --------------- | ---------------------------------------------------------------------- |
 * | `gpt2`          | vocabulary ≥ 50,257: GPT-2's r50k (bundled); smaller (fixtures): none  |
 * | `marian`        | `source.spm` + `target.spm` + `vocab.json`; none of them: none         |
 * | `attention-lab` | `lab-tokenizer.json` (ours, docs/tokenizer.md); absent: none           |
 * | Llama, Qwen2, GPT-Neo, BERT, DistilBERT | Hugging Face `tokenizer.json` (or BERT's `vocab.txt`) |
 *
 * None means the model takes token ids typed as numbers.
 */
import type { ModelConfig } from '../config';
import { gpt2Tokenizer, hfTokenizerOfRepo, tokenizerFromJson } from './index';
import { marianTokenizer } from './marian';
import { parseJson, TokenizerError, type ReadFile, type Tokenizer } from './types';

/** The project's own tokenizer file (not Hugging Face's `tokenizer.json`, a different schema). */
export const LAB_TOKENIZER_FILE = 'lab-tokenizer.json';
/** GPT-2's r50k vocabulary: 50,000 merges + 256 bytes + <|endoftext|>. */
const GPT2_VOCAB = 50257;
/** The files of a Marian tokenizer, next to config.json as in the Hub's `opus-mt-*` repositories. */
const MARIAN_FILES = ['source.spm', 'target.spm', 'vocab.json'] as const;

/**
 * The checkpoint's tokenizer, or null when it has none. Throws `TokenizerError` naming the file
 * for a broken or incomplete one, or one with more tokens than the model.
 */
export async function tokenizerForCheckpoint(
  config: ModelConfig,
  read: ReadFile,
): Promise<Tokenizer | null> {
  const tokenizer = await pick(config, read);
  if (tokenizer && tokenizer.vocabSize > config.vocabSize) {
    throw new TokenizerError(
      `the tokenizer has ${tokenizer.vocabSize} tokens but the model only ${config.vocabSize}`,
    );
  }
  return tokenizer;
}

async function pick(config: ModelConfig, read: ReadFile): Promise<Tokenizer | null> {
  switch (config.family) {
    case 'gpt2':
      // Published GPT-2 checkpoints use r50k, which ships with the app (`gpt-tokenizer`); a
      // GPT-2-layout model with a smaller vocabulary (a test fixture) takes ids.
      return config.vocabSize >= GPT2_VOCAB ? gpt2Tokenizer() : null;
    case 'marian':
      return fromMarianFiles(config, read);
    case 'attention-lab': {
      const json = await read(LAB_TOKENIZER_FILE);
      return json ? tokenizerFromJson(parseJson(json, LAB_TOKENIZER_FILE)) : null;
    }
    case 'llama':
    case 'qwen2':
    case 'gpt-neo':
    case 'bert':
    case 'distilbert':
      // The repository's own Hugging Face tokenizer (tokenizer.json, or BERT's vocab.txt).
      return hfTokenizerOfRepo(read);
  }
}

/** Marian's tokenizer from its three files; none of them: the model takes ids. */
async function fromMarianFiles(config: ModelConfig, read: ReadFile): Promise<Tokenizer | null> {
  const [sourceSpm, targetSpm, vocab] = await Promise.all(MARIAN_FILES.map((f) => read(f)));
  if (!sourceSpm && !targetSpm && !vocab) return null;
  if (!sourceSpm || !targetSpm || !vocab) {
    const missing = MARIAN_FILES.filter((_, i) => ![sourceSpm, targetSpm, vocab][i]);
    throw new TokenizerError(
      `a Marian tokenizer needs ${MARIAN_FILES.join(', ')}; ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing`,
    );
  }
  return marianTokenizer({
    sourceSpm,
    targetSpm,
    vocab: parseJson(vocab, 'vocab.json') as Record<string, number>,
    vocabSize: config.vocabSize,
    ...(config.eosTokenId === null ? {} : { eosId: config.eosTokenId }),
    ...(config.padTokenId === null ? {} : { padId: config.padTokenId }),
  });
}
