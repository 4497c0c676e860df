/**
 * `?backend=webgpu` runs the model on tfjs's WebGPU backend, here on SwiftShader's Vulkan (a GPU
 * emulated on the CPU, so this says nothing of its speed), and reproduces what Hugging Face
 * transformers computed for the gpt2-tiny-a fixture within 1e-4, every traced key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceToReferenceJson } from '../../src/model/traceJson';
import type { ModelInfo } from '../../src/workers/protocol';
import { FIXTURES, maxAbsDiff, readExpected } from '../unit/helpers';
import { openApp, storeRunTrace, WEBGPU_ARGS, type App } from '../../scripts/lib/harness';

const TOLERANCE = 1e-4;

describe('WebGPU (SwiftShader Vulkan)', () => {
  let app: App;

  beforeAll(async () => {
    app = await openApp({
      query: '?backend=webgpu',
      mounts: { '/fixtures/': FIXTURES },
      chromiumArgs: WEBGPU_ARGS,
    });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('is the backend when asked for with ?backend=webgpu', async () => {
    expect((await app.waitForEvent('backend')).detail).toMatchObject({
      backend: 'webgpu',
      fallbacks: [],
    });
    await app.waitForEvent('loaded');
  });

  it('matches transformers on the gpt2-tiny-a fixture within 1e-4', async () => {
    const id = await app.page.evaluate(
      (url) => window.__attentionLab!.client!.load({ kind: 'url', url }),
      `${app.server.url}fixtures/gpt2-tiny-a/`,
    );
    await app.waitForEvent('loaded', id);
    const config = await app.page.evaluate(
      () => (window.__attentionLab!.store!.getState().modelInfo as ModelInfo).config,
    );
    const errors: Record<string, number>[] = [];
    for (const c of readExpected('gpt2-tiny-a').cases) {
      // Typed ids, as the fixture's inputs; the store's run keeps every chunk of the trace.
      await app.page.evaluate((text) => {
        const state = window.__attentionLab!.store!.getState();
        state.setText(text);
        window.__attentionLab!.store!.getState().runNow();
      }, c.input_ids.join(' '));
      const run = (await app.events()).findLast(
        (e) => e.event === 'request' && (e.detail as { type: string }).type === 'run',
      )!;
      await app.waitForEvent('done', run.id);
      const trace = await storeRunTrace(app.page, run.id);
      const ours = traceToReferenceJson(trace, config);
      errors.push(Object.fromEntries(Object.keys(c).map((k) => [k, maxAbsDiff(ours[k], c[k], k)])));
    }
    console.log('gpt2-tiny-a on webgpu, max abs error per key:', JSON.stringify(errors));
    expect(Math.max(...errors.flatMap((e) => Object.values(e)))).toBeLessThanOrEqual(TOLERANCE);
    expect(app.errors.filter((e) => !/404/.test(e))).toEqual([]);
  });
});
