/**
 * Issue 14's view tools in the built app, each checked on the data behind what it draws: the
 * neuron view's products against the step-through's scaled score, the head view's incoming
 * weights of a hovered key against the trace, the attention × ‖value‖ heatmap's numbers against
 * probabilities times the traced value norms, RNN-vs-attention rows measured in the worker, a
 * chart's hover readout, and one y domain for the pre/post-norm charts. Two tiny random models
 * (pre- and post-norm twins) are served as `models/`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';
import { randomCheckpoint } from '../../scripts/make-random-gpt2';
import { LAB_TOKENIZER_FILE } from '../../src/model/tokenizer/forCheckpoint';
import { checksum as valuesChecksum } from '../../src/ui/lib/heatmap';
import {
  DIST,
  launchChromium,
  screenshot,
  serveStatic,
  type Browser,
  type StaticServer,
} from '../../scripts/lib/harness';

const BASE = {
  model_type: 'attention-lab',
  vocab_size: 98,
  n_embd: 32,
  n_head: 4,
  n_layer: 2,
  n_positions: 64,
  pad_token_id: 0,
  eos_token_id: 2,
};
const MODELS = [
  { name: 'viz-pre', title: 'Tiny pre-norm LM', config: { ...BASE, norm_placement: 'pre' } },
  { name: 'viz-post', title: 'Tiny post-norm twin', config: { ...BASE, norm_placement: 'post' } },
];
const CHARS = {
  type: 'chars',
  alphabet: Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)),
  special_tokens: { '<pad>': 0, '<s>': 1, '</s>': 2 },
};

let models: string;
let server: StaticServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  models = mkdtempSync(join(tmpdir(), 'attention-lab-viz-models-'));
  await useFastestNodeBackend();
  for (const [i, m] of MODELS.entries()) {
    const folder = join(models, m.name);
    mkdirSync(folder, { recursive: true });
    const { config, safetensors } = randomCheckpoint(m.config, 'F32', 21 + i);
    writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
    writeFileSync(join(folder, 'model.safetensors'), safetensors);
    writeFileSync(join(folder, LAB_TOKENIZER_FILE), JSON.stringify(CHARS));
  }
  writeFileSync(
    join(models, 'index.json'),
    JSON.stringify({
      default: 'viz-pre',
      models: MODELS.map(({ name, title }) => ({ name, title, description: title })),
    }),
  );
  server = await serveStatic({ '/': DIST, '/models/': models });
  browser = await launchChromium();
  page = browser.page;
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(models, { recursive: true, force: true });
});

/** Open the app at `hash` (wasm: these checks are about the views) and wait for its run. */
async function open(hash: string): Promise<void> {
  await page.goto('about:blank');
  await page.goto(`${server.url}?backend=wasm#${hash}`);
  await page.waitForFunction(
    () => {
      const s = window.__attentionLab?.store?.getState();
      return Boolean(s?.run?.done && !s.inFlight && s.loadId === null);
    },
    undefined,
    { timeout: 120_000 },
  );
}

/** The focused head's attention of the run on screen, as plain arrays. */
function focusedAttention() {
  return page.evaluate(() => {
    const s = window.__attentionLab!.store!.getState();
    const att = s.run!.trace.decoder!.layers[s.focus.layer].attentions[0];
    return {
      head: s.focus.head,
      shape: att.probs.shape,
      probs: Array.from(att.probs.data),
      mask: Array.from(att.mask.data),
      valueNorms: att.valueNorms ? Array.from(att.valueNorms.data) : null,
    };
  });
}

it('neuron view: the products sum to the scaled score the step-through shows', async () => {
  await open('text=the cat sat on the mat&q=9&head=d1.2');
  const view = page.getByTestId('neuron-view');
  await view.waitFor();
  const check = async () => {
    const d = await view.evaluate((e) => ({ ...(e as HTMLElement).dataset }));
    const products = d.products!.split(',').map(Number);
    expect(products).toHaveLength(BASE.n_embd / BASE.n_head);
    const sum = products.reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(Number(d.sum), 5);
    const scaled = sum / Math.sqrt(products.length);
    expect(Number(d.scaled)).toBeCloseTo(scaled, 5);
    // The score the model traced, and the step-through's own row for this key.
    expect(Number(d.traced)).toBeCloseTo(scaled, 4);
    const row = page.getByTestId('step-row').nth(Number(d.key));
    expect(Number(await row.getAttribute('data-scaled'))).toBeCloseTo(scaled, 5);
    return Number(d.key);
  };
  await check();
  await page.getByTestId('step-row').nth(3).click();
  expect(await check()).toBe(3);
  await screenshot(page, 'viz-neuron-view');
});

it('head view: hovering a key shows who attends to it, with the traced weights', async () => {
  await open('text=abcabcabc&tab=heads&head=d0.1');
  const key = 2;
  await page.locator(`[data-testid="hv-key"][data-key="${key}"]`).hover();
  await page.getByTestId('hv-incoming').first().waitFor();
  const lines = await page
    .getByTestId('hv-line')
    .evaluateAll((ls) => ls.map((l) => l.getAttribute('data-key')));
  expect(lines.length).toBeGreaterThan(0);
  expect(new Set(lines)).toEqual(new Set([String(key)]));
  const att = await focusedAttention();
  const [, tq, tk] = att.shape;
  const shown = await page
    .getByTestId('hv-incoming')
    .evaluateAll((ts) => ts.map((t) => [Number(t.dataset.query), Number(t.dataset.weight)]));
  // Every query that may see the key (causal: from the key on), with its weight on it.
  expect(shown.map(([i]) => i)).toEqual(
    Array.from({ length: tq }, (_, i) => i).filter((i) => att.mask[i * tk + key] === 1),
  );
  for (const [i, w] of shown) expect(w).toBeCloseTo(att.probs[(att.head * tq + i) * tk + key], 6);
  await page.mouse.move(0, 0);
  await page.locator('[data-testid="hv-incoming"]').first().waitFor({ state: 'detached' });
});

it('attention × ‖value‖: the heatmap draws probabilities times the traced value norms', async () => {
  await open('text=abcabcabc&tab=heads&head=d1.3');
  const probsSum = await page.getByTestId('attention-heatmap').getAttribute('data-checksum');
  await page.getByTestId('mode-weighted').click();
  // The run on screen may not have captured q/k/v: the mode runs again with them.
  const handle = await page.waitForFunction(
    () => {
      const s = window.__attentionLab!.store!.getState();
      const att = s.run?.done && s.run.trace.decoder?.layers[1]?.attentions[0];
      const canvas = document.querySelector<HTMLCanvasElement>('[data-testid="attention-heatmap"]');
      return att && att.valueNorms && canvas?.dataset.requestId === String(s.run!.id)
        ? canvas.dataset.checksum
        : false;
    },
    undefined,
    { timeout: 60_000 },
  );
  const shown = await handle.jsonValue();
  const att = await focusedAttention();
  const [, tq, tk] = att.shape;
  const norms = att.valueNorms!.slice(att.head * tk, (att.head + 1) * tk);
  expect(norms.every((n) => n > 0)).toBe(true);
  const expected = att.probs
    .slice(att.head * tq * tk, (att.head + 1) * tq * tk)
    .map((p, c) => p * norms[c % tk]);
  expect(shown).toBe(valuesChecksum(expected));
  expect(shown).not.toBe(probsSum);
  await page.waitForFunction(() => location.hash.includes('values=weighted'), undefined, {
    timeout: 5_000,
  });
});

it('RNN vs attention: measured rows for several n, and a chart that reads out on hover', async () => {
  await open('text=abc&tab=rnn');
  const panel = page.getByTestId('rnn-vs-attention');
  await panel.getByTestId('rnn-max-n').selectOption('64');
  await panel.getByTestId('rnn-measure').click();
  await page.waitForFunction(
    () => window.__attentionLab!.store!.getState().rnn?.done === true,
    undefined,
    { timeout: 120_000 },
  );
  const rnn = await page.evaluate(() => window.__attentionLab!.store!.getState().rnn!);
  expect(rnn.stop).toBeNull();
  expect(rnn.rows.map((r) => r.n)).toEqual([8, 16, 32, 64]);
  for (const r of rnn.rows) {
    expect(r.rnnPath).toBe(r.n - 1);
    expect(r.attentionPath).toBe(1);
    expect(r.attentionMatrixBytes).toBe(BASE.n_head * r.n * r.n * 4);
    expect(r.rnnMs).toBeGreaterThan(0);
    expect(r.attentionMs).toBeGreaterThan(0);
  }
  expect(await panel.getByTestId('rnn-row').count()).toBe(4);

  const chart = panel.getByTestId('rnn-time-chart');
  const svg = chart.locator('svg');
  const box = (await svg.boundingBox())!;
  // Near the right end, where n = 64 is drawn (hover() scrolls the chart into view first).
  await svg.hover({ position: { x: box.width - 14, y: box.height / 2 } });
  const readout = chart.getByTestId('chart-readout');
  await expect.poll(() => readout.getAttribute('data-x')).toBe('64');
  const y = Number(await readout.getAttribute('data-y'));
  const last = rnn.rows[3];
  expect([last.rnnMs, last.attentionMs]).toContain(y);
  expect(await readout.textContent()).toMatch(/tokens n 64 →/);
  await screenshot(page, 'viz-rnn-vs-attention');
});

it('pre/post-norm comparison: charts of the same quantity share one y domain', async () => {
  await open('text=abcabcab&tab=norms');
  await page.waitForFunction(
    () => window.__attentionLab!.store!.getState().compare?.run?.done === true,
    undefined,
    { timeout: 120_000 },
  );
  for (const id of ['residual-chart', 'norm-depth-chart']) {
    const charts = page.getByTestId(id);
    await expect.poll(() => charts.count()).toBe(2);
    const domains = await charts.evaluateAll((cs) =>
      cs.map((c) => c.getAttribute('data-y-domain')),
    );
    expect(domains[0]).toBe(domains[1]);
  }
  // The shared residual domain reaches the larger of the two models' norms.
  const largest = await page.evaluate(() => {
    const s = window.__attentionLab!.store!.getState();
    const max = (st: typeof s.run) =>
      Math.max(
        ...st!.trace.decoder!.layers.flatMap((l) => l.residual.flatMap((r) => Array.from(r.norms))),
      );
    return Math.max(max(s.run), max(s.compare!.run));
  });
  const top = Number(
    (await page.getByTestId('residual-chart').first().getAttribute('data-y-domain'))!.split(',')[1],
  );
  expect(top).toBeGreaterThanOrEqual(largest);
});
