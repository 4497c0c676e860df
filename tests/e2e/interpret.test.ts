/**
 * The interpret tab on the shipped default model, in the built app: the logit lens's last row is
 * the predictions panel's top-1, the attribution's parts sum to the logit it shows, patching the
 * clean prompt into itself restores 1 everywhere, prompts of different lengths are refused, and
 * the heatmaps answer hover with their values, and all three read the model under the sidebar's
 * interventions (an ablated head). The maths is tested against float64 references in
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
  // The shipped LM: each layer has an attention and an MLP point, after the embeddings.
  const layers = await app.page.evaluate(
    () => window.__attentionLab!.store!.getState().modelInfo!.config.nLayers,
  );
  expect(shape?.points).toBe(2 * layers + 1);
  const grid = app.page.getByTestId('logit-lens-grid');
  await app.page.locator('[data-testid="logit-lens-grid"][data-checksum]').waitFor();
  expect(await grid.getAttribute('data-rows')).toBe(String(2 * layers + 1));
  expect(await grid.getAttribute('data-cols')).toBe(String(shape?.tokens));
  // The bottom-right cell: the model's own output at the last position (hover scrolls to it).
  const box = (await grid.boundingBox())!;
  await grid.hover({ position: { x: box.width - 2, y: box.height - 2 } });
  await expect
    .poll(() => app.page.getByRole('tooltip').textContent())
    .toMatch(new RegExp(`^after ${layers - 1} mlp, position .*%$`));
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

it('reads the model as the sidebar sets it: with the most contributing head ablated', async () => {
  expect(await app.page.getByTestId('interpret-interventions').textContent()).toMatch(
    /No interventions/,
  );
  await app.page.getByTestId('corrupted-from-clean').click();
  // The head that writes the most to the predicted logit: ablating it moves the prediction.
  const { layer, head } = await app.page.evaluate(() => {
    const r = window.__attentionLab!.store!.getState().interpret.attribution.result;
    if (r?.tool !== 'logit-attribution') throw new Error('no attribution');
    const abs = Array.from(r.headShares, Math.abs);
    const at = abs.indexOf(Math.max(...abs));
    return { layer: Math.floor(at / r.heads), head: at % r.heads };
  });
  await app.page
    .locator(
      `[data-testid="ablate-toggle"][data-kind="self"][data-layer="${layer}"][data-head="${head}"]`,
    )
    .click();
  await app.page.waitForFunction(
    ({ layer, head }) => {
      const s = window.__attentionLab!.store!.getState();
      const under = (
        r: { interventions: { ablatedHeads: { layer: number; head: number }[] } } | null,
      ) => r?.interventions.ablatedHeads.some((h) => h.layer === layer && h.head === head);
      const t = s.interpret;
      return (
        s.run?.done &&
        s.run.interventions.ablatedHeads.length === 1 &&
        under(t.lens.result) &&
        under(t.attribution.result) &&
        under(t.patching.result)
      );
    },
    { layer, head },
    { timeout: 240_000 },
  );
  expect(await app.page.getByTestId('interpret-interventions').textContent()).toContain(
    `head ${layer}.${head} ablated`,
  );
  for (const tool of ['logit-lens', 'logit-attribution', 'activation-patching'])
    expect(await app.page.getByTestId(`${tool}-under`).textContent()).toContain(
      `head ${layer}.${head} ablated`,
    );
  // The lens's last row is the ablated run's prediction, as the predictions panel shows it.
  const lens = app.page.getByTestId('logit-lens');
  const first = app.page.getByTestId('topk-item').first();
  expect(await lens.getAttribute('data-last-top1')).toBe(await first.getAttribute('data-id'));
  const lensProb = Number(await lens.getAttribute('data-last-top1-prob'));
  expect(Math.abs(lensProb - Number(await first.getAttribute('data-prob')))).toBeLessThan(1e-4);
  // The ablated head writes nothing; the parts still sum to the (ablated model's) logit.
  const a = await app.page.evaluate(() => {
    const r = window.__attentionLab!.store!.getState().interpret.attribution.result;
    return r?.tool === 'logit-attribution' ? { shares: [...r.headShares], heads: r.heads } : null;
  });
  expect(a!.shares[layer * a!.heads + head]).toBe(0);
  const section = app.page.getByTestId('logit-attribution');
  const sum = Number(await section.getAttribute('data-sum'));
  const logit = Number(await section.getAttribute('data-logit'));
  expect(Math.abs(sum - logit) / Math.max(1, Math.abs(logit))).toBeLessThan(1e-4);
  // A run patched with itself under the ablation: still exactly 1.
  const restored = await app.page.evaluate(() => {
    const r = window.__attentionLab!.store!.getState().interpret.patching.result;
    return r?.tool === 'activation-patching' ? [...r.headRestored, ...r.residualRestored] : [];
  });
  expect(new Set(restored)).toEqual(new Set([1]));
});
