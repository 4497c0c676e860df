/** Node-only: the tokenizer.json of a model folder, when it has one. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface TextEncoderLike {
  encode(text: string): number[];
}

export function readTokenizer(dir: string): TextEncoderLike | null {
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) return null;
  throw new Error('tokenizers are not wired in yet');
}
