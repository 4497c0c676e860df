/**
 * npm run --silent trace -- --model DIR --ids 5,17,3 [--decoder-ids 60,12] [--no-causal-mask]
 *   [--causal-mask] [--no-positions] [--ablate LAYER.HEAD,...] [--token-type-ids 0,0,1]
 *   [--text "..."] [--decoder-text "..."]
 * Prints one JSON object, in the layout of the fixtures' expected.json, to stdout: the same keys
 * for every family (`attentions` [layer][head][query][key], `hidden_states`, `logits`; BERT adds
 * `token_type_ids`). `--no-causal-mask` lifts a decoder's mask; `--causal-mask` puts one on an
 * encoder-only model (BERT attends both ways by default).
 */
import { parseArgs } from 'node:util';
import { disposeModel, runForward, type HeadRef } from '../src/model/model';
import { traceToReferenceJson } from '../src/model/traceJson';
import { readModelDir, useFastestNodeBackend } from './lib/node-model';
import { readTokenizer } from './lib/node-tokenizer';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    ids: { type: 'string' },
    'decoder-ids': { type: 'string' },
    text: { type: 'string' },
    'decoder-text': { type: 'string' },
    'no-causal-mask': { type: 'boolean', default: false },
    'causal-mask': { type: 'boolean', default: false },
    'token-type-ids': { type: 'string' },
    'no-positions': { type: 'boolean', default: false },
    ablate: { type: 'string' },
  },
});

function fail(message: string): never {
  process.stderr.write(`trace: ${message}\n`);
  process.exit(2);
}

function parseIds(s: string, flag: string): number[] {
  const ids = s.split(',').map((x) => Number(x.trim()));
  if (ids.some((x) => !Number.isInteger(x)))
    fail(`${flag} must be comma-separated integers, got "${s}"`);
  return ids;
}

async function main(): Promise<void> {
  if (!values.model) fail('--model DIR is required');
  await useFastestNodeBackend();
  const model = readModelDir(values.model);
  const encDec = model.config.architecture === 'encoder-decoder';
  const tokenizer = await readTokenizer(values.model, model.config);
  const tokenize = (text: string) => {
    if (!tokenizer) fail(`${values.model} has no tokenizer: pass --ids instead of --text`);
    return tokenizer.encode(text);
  };
  const first = values.ids
    ? parseIds(values.ids, '--ids')
    : values.text !== undefined
      ? tokenize(values.text)
      : fail('give --ids or --text');
  let second: number[] | undefined;
  if (values['decoder-ids']) second = parseIds(values['decoder-ids'], '--decoder-ids');
  else if (values['decoder-text'] !== undefined) second = tokenize(values['decoder-text']);
  if (encDec && !second) fail('an encoder–decoder model needs --decoder-ids or --decoder-text');
  const ablatedHeads: HeadRef[] = (values.ablate ?? '')
    .split(',')
    .filter(Boolean)
    .map((s) => {
      const [layer, head] = s.split('.').map(Number);
      if (!Number.isInteger(layer) || !Number.isInteger(head))
        fail(`--ablate takes LAYER.HEAD pairs, got "${s}"`);
      return {
        stack: model.config.architecture === 'encoder-only' ? 'encoder' : 'decoder',
        layer,
        head,
      };
    });
  const tokenTypeIds = values['token-type-ids']
    ? parseIds(values['token-type-ids'], '--token-type-ids')
    : undefined;
  try {
    const trace = await runForward(
      model,
      encDec ? { ids: second!, sourceIds: first } : { ids: first, tokenTypeIds },
      {
        causalMask: !values['no-causal-mask'],
        causalEncoder: values['causal-mask'],
        usePositions: !values['no-positions'],
        ablatedHeads,
      },
    );
    process.stdout.write(JSON.stringify(traceToReferenceJson(trace, model.config)) + '\n');
  } catch (e) {
    fail((e as Error).message);
  } finally {
    disposeModel(model);
  }
}

main().catch((e: Error) => fail(e.message));
