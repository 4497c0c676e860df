/**
 * Every Hugging Face family on the GPU backends of the built app: the Llama, Qwen2, GPT-Neo, BERT
 * and DistilBERT fixtures, loaded by URL through `window.__attentionLab.client` and run by ids
 * (BERT with its token types) on WebGL (SwiftShader) and on WebGPU (SwiftShader's Vulkan), must
 * give what Hugging Face transformers computed in float64 within 1e-4, every traced key. One
 * case per family (the longer one: past GPT-Neo's window), all families in one page per backend.
 * (wasm and cpu: tests/unit/fixtures.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceToReferenceJson } from '../../src/model/traceJson';
import type { ModelInfo, RunInput } from '../../src/workers/protocol';
import { FIXTURES, maxAbsDiff, readExpected } from '../unit/helpers';
import {
  openApp,
  storeRunTrace,
  WEBGL_QUERY,
  WEBGPU_ARGS,
  type App,
} from '../../scripts/lib/harness';

const TOLERANCE = 1e-4;
const FAMILIES = [
  'llama-tiny-a',
  'qwen2-tiny-a',
  'gptneo-tiny-a',
  'bert-tiny-a',
  'distilbert-tiny-a',
];
const BACKENDS = [
  { backend: 'webgl', query: WEBGL_QUERY, chromiumArgs: [] },
  { backend: 'webgpu', query: '?backend=webgpu', chromiumArgs: WEBGPU_ARGS },
];

/**
 * In the page: run `input` through the client, as the store's current run so that the store
 * keeps its trace; the store's own run of the text box is not started (the text is empty).
 */
function runThroughStore(input: RunInput): number {
  const h = window.__attentionLab!;
  const interventions = { causalMask: true, usePositions: true, ablatedHeads: [] };
  const id = h.client!.run(input, interventions, { captureQKV: false, topK: 5, logits: 'all' });
  // Messages of `id` arrive in later tasks: the store knows the run before the first one.
  h.store!.setState({
    run: {
      id,
      input,
      interventions,
      captureQKV: false,
      trace: {},
      tokens: {},
      truncated: {},
      done: false,
      computedFrom: 0,
      predictions: [],
      timings: null,
      error: null,
      continuation: null,
    },
  });
  return id;
}

for (const { backend, query, chromiumArgs } of BACKENDS) {
  describe(`the model families on ${backend}`, () => {
    let app: App;
    const errors: Record<string, Record<string, number>> = {};

    beforeAll(async () => {
      app = await openApp({ query, mounts: { '/fixtures/': FIXTURES }, chromiumArgs });
      expect((await app.waitForEvent('backend')).detail).toMatchObject({ backend, fallbacks: [] });
      await app.waitForEvent('loaded');
      // An empty text box: loading a fixture (which has no tokenizer) starts no run of its own.
      await app.page.evaluate(() => window.__attentionLab!.store!.getState().setText(''));
      await app.page.waitForFunction(() => {
        const s = window.__attentionLab!.store!.getState();
        return s.run === null && s.inFlight === null;
      });
    });
    afterAll(async () => {
      console.log(`max abs error per key on ${backend}:`, JSON.stringify(errors));
      await app?.close();
    });

    for (const name of FAMILIES) {
      it(`${name} matches transformers within ${TOLERANCE}`, async () => {
        const load = await app.page.evaluate(
          (url) => window.__attentionLab!.client!.load({ kind: 'url', url }),
          `${app.server.url}fixtures/${name}/`,
        );
        await app.waitForEvent('loaded', load);
        const config = await app.page.evaluate(
          () => (window.__attentionLab!.store!.getState().modelInfo as ModelInfo).config,
        );
        const c = readExpected(name).cases[1];
        const types = c.token_type_ids as number[] | undefined;
        const input: RunInput = { ids: c.input_ids, ...(types ? { tokenTypeIds: types } : {}) };
        const run = await app.page.evaluate(runThroughStore, input);
        await app.waitForEvent('done', run);
        const ours = traceToReferenceJson(await storeRunTrace(app.page, run), config);
        const perKey = Object.fromEntries(
          Object.keys(c).map((k) => [k, maxAbsDiff(ours[k], c[k], k)]),
        );
        errors[name] = perKey;
        expect(Object.keys(ours).sort()).toEqual(Object.keys(c).sort());
        for (const [k, err] of Object.entries(perKey))
          expect(err, k).toBeLessThanOrEqual(TOLERANCE);
      });
    }

    it('reported no page errors', () => {
      expect(app.errors.filter((e) => !/404/.test(e))).toEqual([]);
    });
  });
}
