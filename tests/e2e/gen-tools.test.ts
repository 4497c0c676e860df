/**
 * Issue 14's generation and token tools in the built app, on the shipped models: the KV cache
 * growing by one row per generated token (the new row marked, the canvases showing the cache in
 * the store), seeded sampling (reproducible; temperature → 0 is greedy), the tokenizer explorer's
 * merges (the same as the tokenizer's own in Node), and the induction score of "repeat random
 * tokens" on the induction model. The pure parts are unit tested (generation.test.ts,
 * induction.test.ts, tokenizer-explain.test.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { explainToken } from '../../src/model/tokenizer/explain';
import { tokenizerFromJson } from '../../src/model/tokenizer';
import { checksum } from '../../src/ui/lib/heatmap';
import { displayPiece } from '../../src/ui/lib/pieces';
import {
  DIST,
  ROOT,
  launchChromium,
  screenshot,
  serveStatic,
  type Browser,
  type StaticServer,
} from '../../scripts/lib/harness';

const MODELS = join(ROOT, 'public', 'models');
const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));

let server: StaticServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  server = await serveStatic({ '/': DIST, '/models/': MODELS });
  browser = await launchChromium();
  page = browser.page;
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Nothing in flight and the last run done (without an error). */
async function settled(): Promise<void> {
  await page.waitForFunction(
    () => {
      const s = window.__attentionLab?.store?.getState();
      return Boolean(s?.run?.done && !s.inFlight && s.loadId === null && s.modelInfo);
    },
    undefined,
    // Generous: on a loaded two-core machine a first load alone has taken over a minute.
    { timeout: 120_000 },
  );
  const error = await page.evaluate(() => window.__attentionLab!.store!.getState().run!.error);
  expect(error).toBeNull();
}

/** The app at `hash` (no `?backend=`: it picks its backend as a visitor's does), settled. */
async function open(hash: string): Promise<void> {
  await page.goto('about:blank');
  await page.goto(`${server.url}#${hash}`);
  await settled();
}

/** The decoder's tokens of the run on screen. */
const tokenIds = () =>
  page.evaluate(() =>
    window.__attentionLab!.store!.getState().run!.tokens.decoder!.map((t) => t.id),
  );

/** Type `text` as the input and run it (the same start for each generation below). */
async function runText(text: string): Promise<void> {
  await page.evaluate((t) => {
    const s = window.__attentionLab!.store!.getState();
    s.setText(t);
    s.runNow();
  }, text);
  await settled();
}

/** One generation step from the KV cache tab; resolves when the KV canvases show it. */
async function generate(): Promise<void> {
  await page.getByTestId('kv-generate').click();
  await settled();
  await page.waitForFunction(() => {
    const id = String(window.__attentionLab!.store!.getState().run!.id);
    return [...document.querySelectorAll<HTMLCanvasElement>('.kv-canvas')].every(
      (c) => c.dataset.requestId === id,
    );
  });
}

it('shows the KV cache growing by one row per generated token, the new row marked', async () => {
  await open('tab=generate');
  await page.getByTestId('kv-keys').waitFor();
  const section = page.getByTestId('kv-cache');
  const rows0 = Number(await section.getAttribute('data-rows'));
  expect(rows0).toBe((await tokenIds()).length);
  const states = () =>
    page.getByTestId('kv-row').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
  // A run computes every row and keeps no cache, so the first step computes them all again
  // (and fills the cache); each later step reads the cache and computes the new row only.
  expect(await section.getAttribute('data-cached-rows')).toBe('0');
  for (let step = 1; step <= 3; step++) {
    await generate();
    const rows = rows0 + step;
    const cached = step === 1 ? 0 : rows - 1;
    expect(Number(await section.getAttribute('data-rows'))).toBe(rows);
    expect(Number(await section.getAttribute('data-cached-rows'))).toBe(cached);
    expect(await states()).toEqual([
      ...Array(cached).fill('cached'),
      ...Array(rows - 1 - cached).fill('computed'),
      'new',
    ]);
    expect(await page.getByTestId('kv-query').getAttribute('data-position')).toBe(String(rows - 1));
    // The canvases show the store's cache: the keys and values of every token, the new query.
    const cache = await page.evaluate(() => {
      const s = window.__attentionLab!.store!.getState();
      const att = s.run!.trace.decoder!.layers[s.focus.layer].attentions[0];
      const [, t, d] = att.k!.shape;
      const h = s.focus.head;
      return {
        shape: att.k!.shape,
        keys: Array.from(att.k!.data.subarray(h * t * d, (h + 1) * t * d)),
        values: Array.from(att.v!.data.subarray(h * t * d, (h + 1) * t * d)),
        query: Array.from(att.q!.data.subarray((h * t + t - 1) * d, (h * t + t) * d)),
      };
    });
    expect(cache.shape[1]).toBe(rows);
    const data = (id: string) => page.getByTestId(id).getAttribute('data-checksum');
    expect(await data('kv-keys')).toBe(checksum(cache.keys));
    expect(await data('kv-values')).toBe(checksum(cache.values));
    expect(await data('kv-query-row')).toBe(checksum(cache.query));
  }
  await screenshot(page, 'gen-tools-kv-cache');
});

it('samples reproducibly with a seed, and temperature → 0 generates what greedy does', async () => {
  const text = 'First Citizen:\nWe are accounted poor citizens,';
  await open('tab=generate');
  const set = async (field: string, value: number) =>
    page.getByTestId(`sampling-${field}`).fill(String(value));
  /** Three tokens generated after `text`, and the top prediction before each. */
  const three = async () => {
    await runText(text);
    const start = (await tokenIds()).length;
    const argmaxes: number[] = [];
    for (let step = 0; step < 3; step++) {
      argmaxes.push(
        await page.evaluate(() => window.__attentionLab!.store!.getState().run!.predictions[0].id),
      );
      await generate();
    }
    return { tokens: (await tokenIds()).slice(start), argmaxes };
  };
  const greedy = await three();
  expect(greedy.tokens).toEqual(greedy.argmaxes);
  await set('temperature', 0.001);
  await set('seed', 3);
  expect((await three()).tokens).toEqual(greedy.tokens);
  await set('temperature', 2);
  await set('seed', 7);
  const a = await three();
  const b = await three();
  expect(b.tokens).toEqual(a.tokens);
  expect(await page.getByTestId('sampling').getAttribute('data-greedy')).toBe('false');
});

it('shows the BPE merges that built a token, as the tokenizer makes them', async () => {
  // The language model: its byte-level BPE builds tokens by merges (the default's are characters).
  await open('model=lm-prenorm&tab=tokenizer');
  const chips = await page
    .getByTestId('tokenizer-chip')
    .evaluateAll((els) => els.map((e) => ({ id: Number(e.getAttribute('data-token-id')) })));
  const bpe = tokenizerFromJson(readJson(join(MODELS, 'lm-prenorm', 'lab-tokenizer.json')));
  // The input's token with the most merges.
  const merges = (id: number) => {
    const e = explainToken(bpe, id);
    return e.scheme === 'bpe' ? e.steps.length - 1 : 0;
  };
  const best = chips.reduce((a, b) => (merges(b.id) > merges(a.id) ? b : a));
  const expected = explainToken(bpe, best.id);
  if (expected.scheme !== 'bpe') throw new Error('lm-prenorm’s tokenizer is BPE');
  expect(expected.steps.length - 1).toBeGreaterThanOrEqual(2);
  await page.locator(`[data-testid="tokenizer-chip"][data-token-id="${best.id}"]`).first().click();
  const answer = page.getByTestId('tokenizer-answer');
  await answer.waitFor();
  expect(await answer.getAttribute('data-ids')).toBe(String(best.id));
  expect(await page.getByTestId('tokenizer-explorer').getAttribute('data-scheme')).toBe('bpe');
  const steps = await page
    .getByTestId('tokenizer-step')
    .evaluateAll((els) =>
      els.map((e) => [...e.querySelectorAll('.token-chip')].map((c) => c.textContent)),
    );
  expect(steps).toEqual(expected.steps.map((s) => s.pieces.map(displayPiece)));
  const rules = await page.locator('.merge-rule').allTextContents();
  expect(rules.slice(1)).toEqual(
    expected.steps
      .slice(1)
      .map(
        ({ merged }) =>
          `${displayPiece(merged![0])} + ${displayPiece(merged![1])} → ${displayPiece(merged!.join(''))}`,
      ),
  );
  await screenshot(page, 'gen-tools-tokenizer');
});

it('scores the induction model’s induction head high on repeated random tokens', async () => {
  await open('model=induction&tab=metrics');
  const before = await page.evaluate(() => window.__attentionLab!.store!.getState().text);
  await page.getByTestId('repeat-random-tokens').click();
  await page.waitForFunction((t) => window.__attentionLab!.store!.getState().text !== t, before);
  await settled();
  // The input is the same tokens twice.
  const ids = await tokenIds();
  const half = ids.length / 2;
  expect(ids.slice(half)).toEqual(ids.slice(0, half));
  expect(new Set(ids).size).toBe(half);
  await page.waitForFunction(() =>
    [...document.querySelectorAll('[data-metric="induction"]')].every(
      (td) => td.textContent !== '…',
    ),
  );
  const scores = await page.getByTestId('metrics-row').evaluateAll((rows) =>
    rows.map((r) => ({
      head: r.getAttribute('data-head-ref')!.replace(/^d/, ''),
      induction: Number(r.querySelector('[data-metric="induction"]')!.textContent),
    })),
  );
  const best = scores.reduce((a, b) => (b.induction > a.induction ? b : a));
  const training = readJson(join(MODELS, 'induction', 'training.json')) as {
    metrics: { induction_heads: string[] };
  };
  console.log(`induction scores: ${scores.map((s) => `${s.head} ${s.induction}`).join(', ')}`);
  expect(training.metrics.induction_heads).toContain(best.head);
  expect(best.induction).toBeGreaterThan(0.5);
  await screenshot(page, 'gen-tools-induction');
});
