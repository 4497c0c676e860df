/** Node-only: the tokenizer of a model folder, as the app picks it (see tokenizer/forCheckpoint.ts). */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../../src/model/config';
import type { Tokenizer } from '../../src/model/tokenizer';
import { tokenizerForCheckpoint } from '../../src/model/tokenizer/forCheckpoint';

export async function readTokenizer(dir: string, config: ModelConfig): Promise<Tokenizer | null> {
  return tokenizerForCheckpoint(config, async (file) => {
    const path = join(dir, file);
    return existsSync(path) ? new Uint8Array(readFileSync(path)) : null;
  });
}
