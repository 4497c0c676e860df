/**
 * A model's full context in the built app: a GPT-2-shaped decoder small enough for CI (1,024
 * positions like GPT-2 small, but 2 layers, width 64, 4 heads, a character vocabulary) on the
 * wasm backend, with exactly 1,024 tokens typed into the text box. The traced run, a head
 * ablation and the causal mask toggle must each finish and repaint (request ids and the checksum
 * of the numbers behind each canvas match the run in the store) without a crash; the big heatmap
 * shows a window of the 1,024 queries, and its overview moves it. Generation just under the full
 * context goes through the KV cache, and the page's summaries take each new row.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';
import { randomCheckpoint } from '../../scripts/make-random-gpt2';
import { LAB_TOKENIZER_FILE } from '../../src/model/tokenizer/forCheckpoint';
import { checksum } from '../../src/ui/lib/heatmap';
import { WINDOW_ROWS } from '../../src/ui/lib/matrixWindow';
import {
  DIST,
  launchChromium,
  screenshot,
  serveStatic,
  type Browser,
  type StaticServer,
} from '../../scripts/lib/harness';

const T = 1024;
const CONFIG = {
  model_type: 'attention-lab',
  architecture: 'decoder-only',
  vocab_size: 98,
  n_positions: T,
  n_embd: 64,
  n_head: 4,
  n_layer: 2,
  pad_token_id: 0,
  eos_token_id: 2,
};
const CHARS = {
  type: 'chars',
  alphabet: Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)),
  special_tokens: { '<pad>': 0, '<s>': 1, '</s>': 2 },
};
/** 1,024 characters, one token each. */
const TEXT = Array.from(
  { length: T },
  (_, i) => 'the quick brown fox jumps over a lazy dog. '[i % 43],
).join('');

let models: string;
let server: StaticServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  models = mkdtempSync(join(tmpdir(), 'attention-lab-long-'));
  const folder = join(models, 'long');
  mkdirSync(folder, { recursive: true });
  await useFastestNodeBackend();
  const { config, safetensors } = randomCheckpoint(CONFIG, 'F32', 5);
  writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
  writeFileSync(join(folder, 'model.safetensors'), safetensors);
  writeFileSync(join(folder, LAB_TOKENIZER_FILE), JSON.stringify(CHARS));
  writeFileSync(
    join(models, 'index.json'),
    JSON.stringify({
      default: 'long',
      models: [{ name: 'long', title: 'Long context', description: 'e2e fixture' }],
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

/**
 * A run newer than `after` done, nothing in flight, and the big heatmap showing that run: its id.
 */
async function settled(after = 0): Promise<number> {
  const handle = await page
    .waitForFunction(
      (after) => {
        const s = window.__attentionLab?.store?.getState();
        const canvas = document.querySelector<HTMLCanvasElement>(
          '[data-testid="attention-heatmap"]',
        );
        if (s?.run?.error) throw new Error(`run ${s.run.id} failed: ${s.run.error.message}`);
        if (!s?.run?.done || s.run.id <= after || s.inFlight || s.loadId !== null) return false;
        return canvas?.dataset.requestId === String(s.run.id) ? s.run.id : false;
      },
      after,
      // Patience, not a timing claim: 1,024 tokens on a loaded CI machine.
      { timeout: 300_000, polling: 250 },
    )
    .catch(async (e: Error) => {
      const state = await page.evaluate(() => {
        const s = window.__attentionLab?.store?.getState();
        return JSON.stringify({
          run: s?.run && { id: s.run.id, done: s.run.done, error: s.run.error },
          loadId: s?.loadId,
          notices: s?.notices,
          events: window.__attentionLab?.events.slice(-8),
        });
      });
      throw new Error(`${e.message}\n${state}`);
    });
  return (await handle.jsonValue()) as number;
}

/** One head's pooled probabilities in the summary the store keeps of a layer (a long input). */
async function pooled(layer: number, head: number) {
  return page.evaluate(
    ([layer, head]) => {
      const run = window.__attentionLab!.store!.getState().run!;
      const summary = run.trace.decoder!.layers[layer].summaries![0];
      const [, rows, cols] = summary.pooled.shape;
      return Array.from(summary.pooled.data.subarray(head * rows * cols, (head + 1) * rows * cols));
    },
    [layer, head] as const,
  );
}

/** Which layers the store holds in full (the others only as summaries). */
async function layersInFull() {
  return page.evaluate(() =>
    window
      .__attentionLab!.store!.getState()
      .run!.trace.decoder!.layers.flatMap((l, i) => (l.attentions.length > 0 ? [i] : [])),
  );
}

/** Rows [row0, row0 + rows) of one head's probabilities in the store's run. */
async function probsRows(layer: number, head: number, row0: number, rows: number) {
  return page.evaluate(
    ([layer, head, row0, rows]) => {
      const run = window.__attentionLab!.store!.getState().run!;
      const att = run.trace.decoder!.layers[layer].attentions[0];
      const [, nq, nk] = att.probs.shape;
      const from = (head * nq + row0) * nk;
      return Array.from(att.probs.data.subarray(from, from + rows * nk));
    },
    [layer, head, row0, rows] as const,
  );
}

/** The canvas of one head's thumbnail. */
const thumb = (layer: number, head: number) =>
  `[data-testid="head-cell"][data-layer="${layer}"][data-head="${head}"] canvas`;

/** Until the store holds `layer`'s exact attention (a `detail` answer). */
async function layerArrivesInFull(layer: number): Promise<void> {
  await page.waitForFunction(
    (layer) =>
      window.__attentionLab!.store!.getState().run!.trace.decoder!.layers[layer].attentions.length >
      0,
    layer,
    { timeout: 300_000, polling: 250 },
  );
}

async function dataset(selector: string): Promise<Record<string, string | undefined>> {
  return page
    .locator(selector)
    .first()
    .evaluate((e) => ({ ...(e as HTMLElement).dataset }));
}

/** No run failed and no error notice was shown (a crashed backend would say so). */
async function noFailures(): Promise<void> {
  const failures = await page.evaluate(() => ({
    events: window.__attentionLab!.events.filter((e) => e.event === 'error'),
    notices: window.__attentionLab!.store!.getState().notices.filter((n) => n.level === 'error'),
  }));
  expect(failures).toEqual({ events: [], notices: [] });
}

describe('1,024 tokens at the full context', () => {
  it('runs, windows the heatmap, and survives an ablation and the mask toggle', async () => {
    await page.goto(`${server.url}?backend=wasm`);
    const first = await settled();
    await page.locator('[data-testid="token-input"]').fill(TEXT);
    let id = await settled(first);
    const run = await page.evaluate(() => {
      const r = window.__attentionLab!.store!.getState().run!;
      return { n: r.tokens.decoder?.length, truncated: r.truncated.decoder ?? false };
    });
    expect(run).toEqual({ n: T, truncated: false });

    // The big heatmap opens on the last queries × all keys; the overview shows the whole.
    const last = T - WINDOW_ROWS;
    let heatmap = await dataset('[data-testid="attention-heatmap"]');
    expect([heatmap.rows, heatmap.cols]).toEqual([String(WINDOW_ROWS), String(T)]);
    expect(heatmap.checksum).toBe(checksum(await probsRows(0, 0, last, WINDOW_ROWS)));
    expect((await dataset('[data-testid="attention-overview"]')).requestId).toBe(String(id));
    expect((await dataset('[data-testid="attention-overview-window"]')).row0).toBe(String(last));
    const unablated = heatmap.checksum;
    // The page holds the focused layer in full and the other as a summary (docs/performance.md).
    expect(await layersInFull()).toEqual([0]);

    // Ablate head 1 of layer 0: layer 1 changes, layer 0's pattern (the gate acts on its output)
    // does not; every thumbnail shows the new run.
    const layer1Before = (await dataset(thumb(1, 0))).checksum;
    await page.locator('[data-testid="ablate-toggle"][data-layer="0"][data-head="1"]').click();
    const ablatedId = await settled(id);
    expect(ablatedId).toBeGreaterThan(id);
    id = ablatedId;
    expect(
      await page.evaluate(
        () => window.__attentionLab!.store!.getState().run!.interventions.ablatedHeads.length,
      ),
    ).toBe(1);
    const layer1After = await dataset(thumb(1, 0));
    expect(layer1After.requestId).toBe(String(id));
    expect(layer1After.checksum).not.toBe(layer1Before);
    expect(layer1After.checksum).toBe(checksum(await pooled(1, 0)));
    heatmap = await dataset('[data-testid="attention-heatmap"]');
    expect(heatmap.requestId).toBe(String(id));
    expect(heatmap.checksum).toBe(checksum(await probsRows(0, 0, last, WINDOW_ROWS)));
    await noFailures();

    // The causal mask off: the same window, new numbers.
    await page.locator('[data-testid="mask-toggle"]').uncheck();
    const maskId = await settled(id);
    expect(maskId).toBeGreaterThan(id);
    heatmap = await dataset('[data-testid="attention-heatmap"]');
    expect(heatmap.requestId).toBe(String(maskId));
    const maskOff = await probsRows(0, 0, last, WINDOW_ROWS);
    expect(heatmap.checksum).toBe(checksum(maskOff));
    expect(heatmap.checksum).not.toBe(unablated);
    // Query `last` now attends to keys after it.
    expect(maskOff.slice(last + 1, T).some((p) => p > 0)).toBe(true);
    await noFailures();

    // A click at the top of the overview moves the window to the first queries.
    const overview = page.locator('.overview');
    const box = (await overview.boundingBox())!;
    await overview.click({ position: { x: box.width / 2, y: 1 } });
    await page.waitForFunction(
      () =>
        document.querySelector<HTMLElement>('[data-testid="attention-overview-window"]')?.dataset
          .row0 === '0',
    );
    await page.waitForFunction(
      (rows) =>
        document.querySelector<HTMLCanvasElement>('[data-testid="attention-heatmap"]')?.dataset
          .checksum !== rows,
      heatmap.checksum,
    );
    expect((await dataset('[data-testid="attention-heatmap"]')).checksum).toBe(
      checksum(await probsRows(0, 0, 0, WINDOW_ROWS)),
    );

    // Focus layer 1: the worker traces it again, exactly, and the page now holds it in full
    // instead of layer 0; the big heatmap shows it, and its hover values are the exact ones.
    await page.locator(thumb(1, 2)).click();
    await layerArrivesInFull(1);
    expect(await layersInFull()).toEqual([1]);
    const row0 = Number((await dataset('[data-testid="attention-overview-window"]')).row0);
    await page.waitForFunction(
      (rows) =>
        document.querySelector<HTMLCanvasElement>('[data-testid="attention-heatmap"]')?.dataset
          .checksum === rows,
      checksum(await probsRows(1, 2, row0, WINDOW_ROWS)),
    );
    expect((await dataset(thumb(1, 2))).checksum).toBe(checksum(await pooled(1, 2)));
    await noFailures();

    // On a tab that reads no q, k, v, a run does not capture them; back on the step-through, a
    // long input asks the worker for the focused layer's (one block traced again), not for a
    // whole forward: the run on screen stays, and its layer 1 gains q, k and v.
    await page.locator('[data-testid="tab-heads"]').click();
    await page.locator('[data-testid="mask-toggle"]').check();
    const plainId = await settled(maskId);
    const qkvOf = () =>
      page.evaluate(() => {
        const run = window.__attentionLab!.store!.getState().run!;
        const att = run.trace.decoder!.layers[1].attentions[0];
        return { id: run.id, captureQKV: run.captureQKV, q: att?.q?.shape ?? null };
      });
    expect(await qkvOf()).toEqual({ id: plainId, captureQKV: false, q: null });
    await page.locator('[data-testid="tab-step"]').click();
    await page.waitForFunction(
      () =>
        window.__attentionLab!.store!.getState().run!.trace.decoder!.layers[1].attentions[0]?.q !==
        undefined,
      undefined,
      { timeout: 300_000, polling: 250 },
    );
    const dh = CONFIG.n_embd / CONFIG.n_head;
    expect(await qkvOf()).toEqual({ id: plainId, captureQKV: false, q: [CONFIG.n_head, T, dh] });
    // The step-through recomputes the focused query's scores and probabilities from q and k:
    // they match the exact matrices of the layer.
    await page.locator('[data-testid="step-through"]').waitFor();
    const step = await dataset('[data-testid="step-through"]');
    expect(step.requestId).toBe(String(plainId));
    expect(Number(step.scoreError)).toBeLessThan(1e-4);
    expect(Number(step.probError)).toBeLessThan(1e-5);
    await noFailures();
    await screenshot(page, 'long-1024');
  }, 900_000);

  it('generates through the KV cache, the summaries taking each new row exactly', async () => {
    await page.goto(`${server.url}?backend=wasm`);
    const first = await settled();
    const prompt = T - 24;
    await page.locator('[data-testid="token-input"]').fill(TEXT.slice(0, prompt));
    let id = await settled(first);
    const steps = 3;
    for (let step = 0; step < steps; step++) {
      await page.evaluate(() => window.__attentionLab!.store!.getState().generateNext());
      id = await settled(id);
    }
    const n = prompt + steps;
    const state = await page.evaluate(() => {
      const run = window.__attentionLab!.store!.getState().run!;
      return {
        tokens: run.tokens.decoder!.length,
        computedFrom: run.computedFrom,
        pooled: run.trace.decoder!.layers.map((l) => [
          l.summaries![0].factor,
          ...l.summaries![0].pooled.shape,
        ]),
      };
    });
    // The last step computed one row (the first re-ran the prompt into a fresh cache); every
    // layer's summary grew by the steps' rows, at the prompt's pooling factor.
    const factor = Math.ceil(prompt / 128);
    const cells = Math.ceil(n / factor);
    expect(state).toEqual({
      tokens: n,
      computedFrom: n - 1,
      pooled: [0, 1].map(() => [factor, 4, cells, cells]),
    });
    expect(await layersInFull()).toEqual([0]);

    // Layer 1 in full (traced again from the kept inputs, which the steps extended): its
    // max-pooling at the summary's factor is the summary the steps folded, its metrics too.
    await page.locator(thumb(1, 2)).click();
    await layerArrivesInFull(1);
    const worst = await page.evaluate(() => {
      const layer = window.__attentionLab!.store!.getState().run!.trace.decoder!.layers[1];
      const [att] = layer.attentions;
      const [summary] = layer.summaries!;
      const [heads, nq, nk] = att.probs.shape;
      const [, rows, cols] = summary.pooled.shape;
      const f = summary.factor;
      let diff = 0;
      for (let h = 0; h < heads; h++) {
        const max = new Float32Array(rows * cols);
        for (let q = 0; q < nq; q++)
          for (let k = 0; k <= q; k++) {
            const at = Math.floor(q / f) * cols + Math.floor(k / f);
            max[at] = Math.max(max[at], att.probs.data[(h * nq + q) * nk + k]);
          }
        for (let i = 0; i < rows * cols; i++)
          diff = Math.max(diff, Math.abs(max[i] - summary.pooled.data[h * rows * cols + i]));
      }
      // First-token attention, a metric shown in the table: the mean of column 0.
      let first = 0;
      for (let q = 0; q < nq; q++) first += att.probs.data[2 * nq * nk + q * nk];
      return {
        shape: [nq, nk],
        pooled: diff,
        firstToken: Math.abs(first / nq - summary.metrics[2].firstToken),
      };
    });
    expect(worst.shape).toEqual([n, n]);
    expect(worst.pooled).toBeLessThan(1e-5);
    expect(worst.firstToken).toBeLessThan(1e-5);
    expect((await dataset(thumb(1, 2))).checksum).toBe(checksum(await pooled(1, 2)));
    await noFailures();
  }, 900_000);
});
