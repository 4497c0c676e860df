/**
 * The interpret tab on the shipped default model, in the built app: the logit lens's last row is
 * the predictions panel's top-1, the attribution's parts sum to the logit it shows, patching the
 * clean prompt into itself restores 1 everywhere, prompts of different lengths are refused, and
 * the heatmaps answer hover with their values. The maths is tested against float64 references in
 * tests/unit/analysis.test.ts.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DIST, openApp, type App } from '../../scripts/lib/harness';

let app: App;

beforeAll(async () => {
  // The shipped LM (the app's own `models/`), not the harness's random test model, nor the
  // default model (attention-only, so it has no MLP rows to check).
  app = await openApp({
    query: '?backend=webgl#model=lm-prenorm&tab=interpret',
    mounts: { '/models/': join(DIST, 'models') },
  });
  await app.page.waitForFunction(
    () => {
      const s = window.__attentionLab?.store?.getState();
      return s?.run?.done && s.interpret.lens.result && s.interpret.attribution.result;
    },
    null,
    { timeout: 180_000 },
  );
});

afterAll(async () => {
  await app?.close();
});

it('reads the lens’s last row as the predictions panel’s top-1', async () => {
  const lens = app.page.getByTestId('logit-lens');
  const first = app.page.getByTestId('topk-item').first();
  expect(await lens.getAttribute('data-last-top1')).toBe(await first.getAttribute('data-id'));
  const lensProb = Number(await lens.getAttribute('data-last-top1-prob'));
  expect(Math.abs(lensProb - Number(await first.getAttribute('data-prob')))).toBeLessThan(1e-4);
  const shape = await app.page.evaluate(() => {
    const r = window.__attentionLab!.store!.getState().interpret.lens.result;
    return r?.tool === 'logit-lens' ? { points: r.points.length, tokens: r.tokens.length } : null;
  });
  // The shipped LM: 4 layers, each with an attention and an MLP point, after the embeddings.
  expect(shape?.points).toBe(9);
  const grid = app.page.getByTestId('logit-lens-grid');
  await app.page.locator('[data-testid="logit-lens-grid"][data-checksum]').waitFor();
  expect(await grid.getAttribute('data-rows')).toBe('9');
  expect(await grid.getAttribute('data-cols')).toBe(String(shape?.tokens));
  // The bottom-right cell: the model's own output at the last position (hover scrolls to it).
  const box = (await grid.boundingBox())!;
  await grid.hover({ position: { x: box.width - 2, y: box.height - 2 } });
  await expect
    .poll(() => app.page.getByRole('tooltip').textContent())
    .toMatch(/^after 3 mlp, position .*%$/);
});

it('attributes the predicted token’s logit to parts that sum to it', async () => {
  const section = app.page.getByTestId('logit-attribution');
  const lensTop1 = await app.page.getByTestId('logit-lens').getAttribute('data-last-top1');
  expect(await section.getAttribute('data-token')).toBe(lensTop1);
  const sum = Number(await section.getAttribute('data-sum'));
  const logit = Number(await section.getAttribute('data-logit'));
  expect(Math.abs(sum - logit) / Math.max(1, Math.abs(logit))).toBeLessThan(1e-4);
  await app.page.locator('[data-testid="logit-attribution-map"][data-checksum]').waitFor();
  // One column per head and one for the layer's MLP.
  const heads = await app.page.evaluate(
    () => window.__attentionLab!.store!.getState().modelInfo!.config.nHeads,
  );
  expect(await app.page.getByTestId('logit-attribution-map').getAttribute('data-cols')).toBe(
    String(heads + 1),
  );
});

it('restores exactly 1 when the clean prompt is patched into itself', async () => {
  await app.page.getByTestId('corrupted-from-clean').click();
  await app.page.waitForFunction(
    () => window.__attentionLab!.store!.getState().interpret.patching.result,
    null,
    { timeout: 120_000 },
  );
  const restored = await app.page.evaluate(() => {
    const r = window.__attentionLab!.store!.getState().interpret.patching.result;
    return r?.tool === 'activation-patching' ? [...r.headRestored, ...r.residualRestored] : [];
  });
  expect(restored.length).toBeGreaterThan(16);
  expect(new Set(restored)).toEqual(new Set([1]));
  await app.page.locator('[data-testid="patching-positions"][data-checksum]').waitFor();
});

it('refuses a corrupted prompt of another length, saying why', async () => {
  await app.page.getByTestId('corrupted-text').fill('To be');
  await expect
    .poll(() => app.page.getByTestId('activation-patching').textContent(), { timeout: 60_000 })
    .toMatch(/same number of tokens/);
});
