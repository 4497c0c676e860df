/**
 * The first screen (issue 14): each shipped model's example in models/index.json, as the recipes
 * write it, fits its model, and the default model's example shows a confident prediction and a
 * clear pattern on the shipped weights.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { disposeModel, runForward } from '../../src/model/model';
import { row } from '../../src/model/trace';
import { prepareInput } from '../../src/workers/inputs';
import type { ModelIndex } from '../../src/workers/protocol';
import { parseHead } from '../../src/ui/lib/urlState';
import { attentionBlocks } from '../../src/ui/store/shape';
import { readModelDir, useFastestNodeBackend } from '../../scripts/lib/node-model';
import { readTokenizer } from '../../scripts/lib/node-tokenizer';
import { DEFAULT_MODEL, RECIPES } from '../../scripts/recipes';

const MODELS = join(import.meta.dirname, '..', '..', 'public', 'models');
const index = JSON.parse(readFileSync(join(MODELS, 'index.json'), 'utf8')) as ModelIndex;

/**
 * The default model's top-1 probability on its example, at least: "confident" is most of the
 * mass on one token. The induction model gives 0.98 (a repeated sentence); the LMs' best examples
 * reach about 0.5 with today's weights, which is why the default is the induction model.
 */
const FIRST_SCREEN_TOP1 = 0.9;

beforeAll(async () => {
  await useFastestNodeBackend();
});

describe('models/index.json examples', () => {
  it('are the recipes’ (npm run train writes them), with a how-to for every model', () => {
    expect(index.default).toBe(DEFAULT_MODEL);
    for (const r of RECIPES) {
      const entry = index.models.find((m) => m.name === r.name);
      expect(entry?.howTo).toBe(r.howTo);
      expect(entry?.example).toEqual(r.example);
      expect(r.howTo?.length).toBeGreaterThan(100);
    }
  });

  for (const { name, example } of index.models) {
    it(`${name}: the example's head and query exist${name === DEFAULT_MODEL ? ', and it predicts with confidence' : ''}`, async () => {
      const dir = join(MODELS, name);
      const model = readModelDir(dir);
      try {
        const tokenizer = await readTokenizer(dir, model.config);
        const head = parseHead(example!.head)!;
        const block = attentionBlocks(model.config).find(
          (b) => b.stack === head.stack && b.kind === head.kind,
        );
        expect(head.layer).toBeLessThan(block!.layers);
        expect(head.head).toBeLessThan(model.config.nHeads);
        const input = { text: example!.text, sourceText: example!.source };
        const { prepared } = prepareInput(model.config, tokenizer, input);
        const ids = head.stack === 'encoder' ? prepared.sourceIds! : prepared.ids;
        expect(example!.query).toBeLessThan(ids.length);
        const trace = await runForward(model, prepared, { logits: 'last' });
        const logits = trace.decoder!.output!.logits!;
        const last = row(logits, logits.shape[0] - 1);
        const max = Math.max(...last);
        const sum = last.reduce((s, v) => s + Math.exp(v - max), 0);
        const top1 = 1 / sum;
        const att = trace[head.stack]!.layers[head.layer].attentions.find(
          (a) => a.kind === head.kind,
        )!;
        const [, queries, keys] = att.probs.shape;
        const weights = row(att.probs, head.head).subarray(
          example!.query * keys,
          (example!.query + 1) * keys,
        );
        const peak = Math.max(...weights);
        console.log(
          `${name}: top-1 ${top1.toFixed(3)}, ${example!.head} peak ${peak.toFixed(2)} (${queries} queries)`,
        );
        if (name === DEFAULT_MODEL) {
          expect(top1).toBeGreaterThan(FIRST_SCREEN_TOP1);
          // A clear pattern: the query row puts most of its attention on one key.
          expect(peak).toBeGreaterThan(0.5);
        }
      } finally {
        disposeModel(model);
      }
    });
  }
});
