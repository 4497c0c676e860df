/** Node-only: the tokenizer of a model folder (its tokenizer.json, or GPT-2's for gpt2 checkpoints). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../../src/model/config';
import { gpt2Tokenizer, tokenizerFromJson, type Tokenizer } from '../../src/model/tokenizer';

export async function readTokenizer(dir: string, config: ModelConfig): Promise<Tokenizer | null> {
  const path = join(dir, 'tokenizer.json');
  if (existsSync(path)) return tokenizerFromJson(JSON.parse(readFileSync(path, 'utf8')));
  if (config.family === 'gpt2' && config.vocabSize === 50257) return gpt2Tokenizer();
  return null;
}
