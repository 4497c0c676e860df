/**
 * Trains the project's byte-level BPE on a corpus and writes our lab-tokenizer.json (not Hugging Face's tokenizer.json).
 *
 *   npx tsx scripts/train-tokenizer.ts --corpus ../shared/data/tinyshakespeare.txt --vocab 2048 --out /tmp/tok.json
 *
 * --special takes a comma-separated list of special tokens (default `<|endoftext|>`; `--special ''`
 * for none); they count towards --vocab.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { trainBpe } from '../src/model/tokenizer/index';

const { values } = parseArgs({
  options: {
    corpus: { type: 'string' },
    vocab: { type: 'string', default: '2048' },
    out: { type: 'string' },
    special: { type: 'string', default: '<|endoftext|>' },
  },
});
if (values.corpus === undefined || values.out === undefined) {
  console.error(
    'usage: tsx scripts/train-tokenizer.ts --corpus FILE --out lab-tokenizer.json [--vocab 2048] [--special "<|endoftext|>"]',
  );
  process.exit(2);
}
const vocabSize = Number(values.vocab);
const specialTokens = values.special.split(',').filter((name) => name.length > 0);

const text = readFileSync(values.corpus, 'utf8');
const bytes = Buffer.byteLength(text);
console.log(`corpus ${values.corpus}: ${bytes.toLocaleString('en')} bytes`);

const start = performance.now();
const mergesWanted = vocabSize - 256 - specialTokens.length;
let nextReport = 0.1;
const tokenizer = trainBpe(text, {
  vocabSize,
  specialTokens,
  onProgress: ({ merges, vocabSize: size }) => {
    if (merges >= nextReport * mergesWanted) {
      const seconds = ((performance.now() - start) / 1000).toFixed(2);
      console.log(`  ${merges}/${mergesWanted} merges, vocabulary ${size}, ${seconds} s`);
      nextReport += 0.1;
    }
  },
});
const trainSeconds = (performance.now() - start) / 1000;
const json = tokenizer.toJSON();
console.log(
  `trained in ${trainSeconds.toFixed(2)} s: vocabulary ${tokenizer.vocabSize} (${json.merges.length} merges, special tokens ${JSON.stringify(json.special_tokens)})`,
);
if (tokenizer.vocabSize < vocabSize) {
  console.log(`  stopped early: every word of the corpus is a single token`);
}

const encodeStart = performance.now();
const ids = tokenizer.encode(text);
const encodeSeconds = (performance.now() - encodeStart) / 1000;
console.log(
  `corpus encodes to ${ids.length.toLocaleString('en')} tokens (${(bytes / ids.length).toFixed(2)} bytes/token) in ${encodeSeconds.toFixed(2)} s`,
);

writeFileSync(values.out, JSON.stringify(json));
console.log(`wrote ${values.out}`);
