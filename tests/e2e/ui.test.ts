/**
 * The panels, driven in the built app in headless Chromium. Each control is checked on the data
 * behind what it draws: a canvas's request id and the checksum of the numbers handed to its
 * painter against the trace in the store, the main heatmap's pixels against the colour scale, and
 * the predictions. Tiny random models are written to a temporary folder and served as
 * `models/`, so the tests do not depend on which models ship.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';
import { randomCheckpoint } from '../../scripts/make-random-gpt2';
import {
  colourOf,
  divergingScale,
  finiteExtent,
  sequentialScale,
  type ColourScale,
} from '../../src/ui/lib/colour';
// A hash of the numbers handed to a canvas's painter (its `data-checksum`), not of its pixels:
// the pixel test below reads those.
import { checksum as valuesChecksum } from '../../src/ui/lib/heatmap';
import { LAB_TOKENIZER_FILE } from '../../src/model/tokenizer/forCheckpoint';
import { positionalSimilarity } from '../../src/ui/lib/positions';
import {
  DIST,
  launchChromium,
  screenshot,
  serveStatic,
  type Browser,
  type StaticServer,
  WEBGL_QUERY,
} from '../../scripts/lib/harness';

const ALPHABET = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));
const CHARS = {
  type: 'chars',
  alphabet: ALPHABET,
  special_tokens: { '<pad>': 0, '<s>': 1, '</s>': 2 },
};
const BASE = {
  model_type: 'attention-lab',
  vocab_size: 98,
  n_embd: 32,
  n_head: 4,
  n_layer: 2,
  n_positions: 32,
  pad_token_id: 0,
  eos_token_id: 2,
  decoder_start_token_id: 1,
};
const MODELS: { name: string; title: string; config: Record<string, unknown> }[] = [
  { name: 'lm-pre', title: 'Tiny pre-norm LM', config: { ...BASE, norm_placement: 'pre' } },
  { name: 'lm-post', title: 'Tiny post-norm twin', config: { ...BASE, norm_placement: 'post' } },
  {
    name: 'dates',
    title: 'Tiny encoder–decoder',
    config: {
      ...BASE,
      architecture: 'encoder-decoder',
      n_encoder_layer: 1,
      norm_placement: 'post',
      position_embedding: 'sinusoidal',
    },
  },
];

function writeModels(dir: string): void {
  for (const [i, m] of MODELS.entries()) {
    const folder = join(dir, m.name);
    mkdirSync(folder, { recursive: true });
    const { config, safetensors } = randomCheckpoint(m.config, 'F32', 11 + i);
    writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
    writeFileSync(join(folder, 'model.safetensors'), safetensors);
    writeFileSync(join(folder, LAB_TOKENIZER_FILE), JSON.stringify(CHARS));
    const steps = [0, 100, 200, 300];
    writeFileSync(
      join(folder, 'training.json'),
      JSON.stringify({ steps, train_loss: steps.map((s) => 4.5 - s / (100 + 50 * i)) }),
    );
  }
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      default: 'lm-pre',
      models: MODELS.map(({ name, title }) => ({ name, title, description: title })),
    }),
  );
}

let models: string;
let server: StaticServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  models = mkdtempSync(join(tmpdir(), 'attention-lab-ui-models-'));
  await useFastestNodeBackend();
  writeModels(models);
  server = await serveStatic({ '/': DIST, '/models/': models });
  browser = await launchChromium();
  page = browser.page;
  // While `on`, messages from a worker wait in `queue` (a test delivers them later, in order).
  await browser.context.addInitScript(`
    const held = { on: false, queue: [] };
    window.__heldWorkerMessages = held;
    window.Worker = class extends Worker {
      set onmessage(handler) {
        super.onmessage = handler && ((e) =>
          held.on ? held.queue.push(() => handler.call(this, e)) : handler.call(this, e));
      }
      get onmessage() {
        return super.onmessage;
      }
    };
  `);
});

/** What the init script above adds to the page. */
interface Held {
  __heldWorkerMessages: { on: boolean; queue: (() => void)[] };
}

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(models, { recursive: true, force: true });
});

/** Open the app at `hash` and wait for the first run to be painted. */
async function open(hash = ''): Promise<void> {
  // A fresh page load each time: going from one hash to another would only change the hash.
  await page.goto('about:blank');
  await page.goto(`${server.url}${WEBGL_QUERY}#${hash}`);
  await settled();
}

/** Nothing in flight, the last run done, and the focused heatmap showing that run. */
async function settled(): Promise<number> {
  const handle = await page
    .waitForFunction(
      () => {
        const s = window.__attentionLab?.store?.getState();
        const canvas = document.querySelector<HTMLCanvasElement>(
          '[data-testid="attention-heatmap"]',
        );
        if (!s?.run?.done || s.inFlight || s.loadId !== null) return false;
        return canvas?.dataset.requestId === String(s.run.id) ? s.run.id : false;
      },
      undefined,
      // Generous: on a loaded two-core machine a first load alone has taken over a minute.
      { timeout: 120_000 },
    )
    .catch(async (e: Error) => {
      // Say what the app was doing, not only that it timed out.
      const state = await page.evaluate(() => {
        const s = window.__attentionLab?.store?.getState();
        const canvas = document.querySelector<HTMLCanvasElement>(
          '[data-testid="attention-heatmap"]',
        );
        return JSON.stringify({
          run: s?.run && {
            id: s.run.id,
            done: s.run.done,
            error: s.run.error,
            layers: s.run.trace.decoder?.layers.length,
          },
          inFlight: s?.inFlight,
          loadId: s?.loadId,
          canvas: canvas && { ...canvas.dataset },
          notices: s?.notices,
          events: window.__attentionLab?.events.slice(-8),
        });
      });
      throw new Error(`${e.message}\n${state}`);
    });
  return (await handle.jsonValue()) as number;
}

/** The hash follows the view a moment after it settles. */
async function hashContains(part: string): Promise<void> {
  await page.waitForFunction((part) => location.hash.includes(part), part, { timeout: 5_000 });
}

async function canvasData(testId: string, nth = 0): Promise<Record<string, string | undefined>> {
  return page
    .locator(`[data-testid="${testId}"]`)
    .nth(nth)
    .evaluate((c) => ({ ...(c as HTMLElement).dataset }));
}

/** One head's matrix from the run in the store: `probs`/`scores` of `[layer, head]`. */
async function headValues(
  layer: number,
  head: number,
  field: 'probs' | 'scores' = 'probs',
  stack: 'decoder' | 'encoder' = 'decoder',
  kind: 'self' | 'cross' = 'self',
): Promise<number[]> {
  return page.evaluate(
    ([layer, head, field, stack, kind]) => {
      const run = window.__attentionLab!.store!.getState().run!;
      const att = run.trace[stack as 'decoder']!.layers[layer as number].attentions.find(
        (a) => a.kind === kind,
      )!;
      const m = att[field as 'probs'];
      const size = m.shape[1] * m.shape[2];
      return Array.from(m.data.subarray((head as number) * size, ((head as number) + 1) * size));
    },
    [layer, head, field, stack, kind] as const,
  );
}

/** RGB of the main heatmap's canvas at the centre of each `[row, col]` cell (no zoom). */
async function heatmapPixels(cells: number[][]): Promise<number[][]> {
  return page.locator('[data-testid="attention-heatmap"]').evaluate((c, cells) => {
    const canvas = c as HTMLCanvasElement;
    const rows = Number(canvas.dataset.rows);
    const cols = Number(canvas.dataset.cols);
    const ctx = canvas.getContext('2d')!;
    return cells.map(([i, j]) => {
      const x = Math.floor(((j + 0.5) * canvas.width) / cols);
      const y = Math.floor(((i + 0.5) * canvas.height) / rows);
      return Array.from(ctx.getImageData(x, y, 1, 1).data.subarray(0, 3));
    });
  }, cells);
}

async function predictions(): Promise<number[]> {
  return page
    .locator('[data-testid="topk-item"]')
    .evaluateAll((items) => items.map((i) => Number((i as HTMLElement).dataset.prob)));
}

describe('the visualizer in the built app', () => {
  it('paints the focused head from the run in the store, with tokens and the backend shown', async () => {
    await open('text=abcabcab');
    const id = await page.evaluate(() => window.__attentionLab!.store!.getState().run!.id);
    const heatmap = await canvasData('attention-heatmap');
    expect(heatmap.requestId).toBe(String(id));
    expect(heatmap.rows).toBe('8');
    expect(heatmap.checksum).toBe(valuesChecksum(await headValues(0, 0)));
    // Every head thumbnail of the model view shows this run too.
    const cells = page.locator('[data-testid="head-cell"]');
    expect(await cells.count()).toBe(8);
    const thumbs = await cells
      .locator('canvas')
      .evaluateAll((cs) => cs.map((c) => (c as HTMLElement).dataset.requestId));
    expect(new Set(thumbs)).toEqual(new Set([String(id)]));
    expect(await page.locator('[data-testid="token-chip"]').count()).toBe(8);
    expect(await page.locator('[data-testid="token-chip"]').first().getAttribute('title')).toMatch(
      /id \d+ · "a"/,
    );
    const badge = page.locator('[data-testid="backend-badge"]');
    expect(await badge.getAttribute('data-backend')).toBe('webgl');
    expect(await badge.textContent()).toMatch(/SwiftShader/);
    expect(await predictions()).toHaveLength(10);
    // The picker's progress bars were fed: every stage reported reached its total.
    const progress = await page.evaluate(() => window.__attentionLab!.store!.getState().progress);
    expect(Object.keys(progress).length).toBeGreaterThan(0);
    for (const p of Object.values(progress)) expect(p.loaded).toBe(p.total);
    await screenshot(page, 'ui-overview');
    expect(browser.errors).toEqual([]);
  });

  it('turning the causal mask off changes the picture and the predictions, labelled as a counterfactual', async () => {
    await open('text=abcabcab');
    const before = await canvasData('attention-heatmap');
    const beforeProbs = await predictions();
    expect(await page.locator('[data-testid="counterfactual"]').count()).toBe(0);
    await page.locator('[data-testid="mask-toggle"]').uncheck();
    const id = await settled();
    const after = await canvasData('attention-heatmap');
    expect(Number(after.requestId)).toBe(id);
    expect(Number(after.requestId)).toBeGreaterThan(Number(before.requestId));
    const probs = await headValues(0, 0);
    expect(after.checksum).toBe(valuesChecksum(probs));
    expect(after.checksum).not.toBe(before.checksum);
    // Query 0 now attends to keys after it: the upper triangle is no longer zero.
    expect(probs.slice(1, 8).some((p) => p > 0)).toBe(true);
    expect(await predictions()).not.toEqual(beforeProbs);
    expect(await page.locator('[data-testid="topk-delta"]').count()).toBeGreaterThan(0);
    expect(await page.locator('[data-testid="counterfactual"]').first().textContent()).toMatch(
      /causal mask off/,
    );
    await hashContains('mask=0');
    await screenshot(page, 'ui-mask-off');
  });

  it('a request superseded while in flight never paints', async () => {
    await open('text=abcabcab');
    // Hold what the worker sends, so that request A is in flight for sure when B replaces it.
    await page.evaluate(() => {
      window.__attentionLab!.paints.length = 0;
      (window as unknown as Held).__heldWorkerMessages.on = true;
      window.__attentionLab!.store!.getState().setText('abcdefgh');
      window.__attentionLab!.store!.getState().runNow();
    });
    // The worker has answered part of A (a chunk is held), and nothing of it reached the page.
    const a = await page
      .waitForFunction(() => {
        const held = (window as unknown as Held).__heldWorkerMessages;
        const runs = window.__attentionLab!.events.filter(
          (e) => e.event === 'request' && (e.detail as { type: string }).type === 'run',
        );
        return held.queue.length > 0 && runs.at(-1)!.id;
      })
      .then((h) => h.jsonValue() as Promise<number>);
    await page.evaluate(() => {
      const s = window.__attentionLab!.store!.getState();
      s.setCausalMask(false);
      s.setText('hgfedcba');
      s.runNow();
      s.setCausalMask(true);
      const held = (window as unknown as Held).__heldWorkerMessages;
      held.on = false;
      for (const deliver of held.queue.splice(0)) deliver();
    });
    const id = await settled();
    expect(id).toBeGreaterThan(a);
    const events = await page.evaluate(() => window.__attentionLab!.events);
    expect(events.filter((e) => e.id === a && ['chunk', 'done'].includes(e.event))).toEqual([]);
    const paints = await page.evaluate(() =>
      window.__attentionLab!.paints.filter((p) => p.panel === 'attention-heatmap'),
    );
    const ids = paints.map((p) => p.id);
    expect(ids).not.toContain(a);
    expect(ids.at(-1)).toBe(id);
    // In paint order, request ids never go back.
    expect([...ids].sort((x, y) => x - y)).toEqual(ids);
    expect((await canvasData('attention-heatmap')).checksum).toBe(
      valuesChecksum(await headValues(0, 0)),
    );
  });

  it("the main heatmap's pixels are the colour scale at the values shown", async () => {
    await open('text=abcdefgh');
    const probs = await headValues(0, 0);
    // Every visible cell (the causal mask hides j > i) of the 8×8 map, at its centre.
    const cells = Array.from({ length: 64 }, (_, k) => [k >> 3, k & 7]).filter(([i, j]) => j <= i);
    const expectColours = async (values: number[], scale: ColourScale) => {
      const pixels = await heatmapPixels(cells);
      for (const [n, [i, j]] of cells.entries()) {
        const want = colourOf(scale, values[i * 8 + j]);
        const got = pixels[n];
        const off = Math.max(...want.map((w, c) => Math.abs(w - got[c])));
        expect(off, `cell ${i},${j}: ${got} vs ${want}`).toBeLessThanOrEqual(1);
      }
    };
    await expectColours(probs, sequentialScale());
    // The probabilities differ enough across cells that a uniform picture would fail.
    expect(new Set((await heatmapPixels(cells)).map((p) => p.join())).size).toBeGreaterThan(4);

    await page.locator('[data-testid="mode-scores"]').click();
    const scores = await headValues(0, 0, 'scores');
    await page.waitForFunction(
      (sum) =>
        document.querySelector<HTMLElement>('[data-testid="attention-heatmap"]')?.dataset
          .checksum === sum,
      valuesChecksum(scores),
    );
    await expectColours(scores, divergingScale(finiteExtent(scores)));
  });

  it('ablating a head hatches it, changes later layers and the predictions against the unablated run', async () => {
    await open('text=abcabcab');
    const cell = (layer: number, head: number) =>
      page.locator(`[data-testid="head-cell"][data-layer="${layer}"][data-head="${head}"]`);
    const layer1Before = await cell(1, 0)
      .locator('canvas')
      .evaluate((c) => (c as HTMLElement).dataset.checksum);
    const before = await predictions();
    await page.locator('[data-testid="ablate-toggle"][data-layer="0"][data-head="1"]').click();
    await settled();
    expect(await cell(0, 1).getAttribute('data-ablated')).toBe('true');
    expect(await cell(0, 0).getAttribute('data-ablated')).toBe('false');
    const layer1After = await cell(1, 0)
      .locator('canvas')
      .evaluate((c) => (c as HTMLElement).dataset.checksum);
    expect(layer1After).toBe(valuesChecksum(await headValues(1, 0)));
    expect(layer1After).not.toBe(layer1Before);
    const after = await predictions();
    expect(after).not.toEqual(before);
    const deltas = await page.locator('[data-testid="topk-delta"]').allTextContents();
    expect(deltas).toHaveLength(after.length);
    await hashContains('ablate=d0.1');
    await screenshot(page, 'ui-ablation');
  });

  it('clicking a head focuses it; the switch shows raw scores on a diverging scale', async () => {
    await open('text=abcabcab');
    await page.locator('[data-testid="head-cell"][data-layer="1"][data-head="2"]').click();
    expect(await page.locator('[data-testid="focus-layer"]').inputValue()).toBe('1');
    expect(await page.locator('[data-testid="focus-head"]').inputValue()).toBe('2');
    expect((await canvasData('attention-heatmap')).checksum).toBe(
      valuesChecksum(await headValues(1, 2)),
    );
    await page.locator('[data-testid="mode-scores"]').click();
    await hashContains('values=scores');
    expect((await canvasData('attention-heatmap')).checksum).toBe(
      valuesChecksum(await headValues(1, 2, 'scores')),
    );
    expect(
      await page.locator('[data-testid="legend"] .legend-value').first().textContent(),
    ).toMatch(/^-/);
    // Keyboard: ] moves to the next head.
    await page.locator('body').press(']');
    expect(await page.locator('[data-testid="focus-head"]').inputValue()).toBe('3');
  });

  it('aggregates pieces to words and draws the head view from the same run', async () => {
    await open('text=ab cd e&tab=heads');
    await page.locator('[data-testid="words-toggle"]').check();
    const words = await canvasData('attention-heatmap');
    // Pieces a b ␣ c d ␣ e → words "ab", " cd", " e".
    expect([words.rows, words.cols]).toEqual(['3', '3']);
    const p = await headValues(0, 0);
    const n = 7;
    // Word " cd" attending to word "ab": mean over its 3 query pieces of p(→a) + p(→b).
    const expected = [2, 3, 4].reduce((acc, i) => acc + p[i * n] + p[i * n + 1], 0) / 3;
    await hashContains('words=1');
    const box = (await page.locator('[data-testid="attention-heatmap"]').boundingBox())!;
    await page.mouse.move(box.x + box.width / 6, box.y + box.height / 2);
    expect(await page.locator('[role="tooltip"]').textContent()).toContain(expected.toPrecision(5));
    const headView = page.locator('[data-testid="head-view"]');
    expect(await headView.getAttribute('data-request-id')).toBe(words.requestId);
    expect(await headView.locator('line').count()).toBeGreaterThan(0);
  });

  it('hover shows the exact value with its tokens; zoom is kept in the URL', async () => {
    await open('text=abcdefgh');
    const canvas = page.locator('[data-testid="attention-heatmap"]');
    const box = (await canvas.boundingBox())!;
    // Row 7 (query "h"), column 0 (key "a").
    await page.mouse.move(box.x + box.width / 16, box.y + (box.height * 15) / 16);
    const tip = await page.locator('[role="tooltip"]').textContent();
    const p = (await headValues(0, 0))[7 * 8];
    expect(tip).toContain('query h (#7) → key a (#0)');
    expect(tip).toContain(p.toPrecision(5));
    await page.getByRole('button', { name: 'zoom in' }).click();
    await hashContains('zoom=1.5');
    expect((await canvasData('attention-heatmap')).checksum).toBe(
      valuesChecksum(await headValues(0, 0)),
    );
  });

  it('steps through q·k, scaling, mask, softmax and the weighted sum, agreeing with the model', async () => {
    await open('text=abcabcab&tab=step&q=3');
    const panel = page.locator('[data-testid="step-through"]');
    await panel.waitFor();
    expect(await panel.getAttribute('data-query')).toBe('3');
    expect(Number(await panel.getAttribute('data-score-error'))).toBeLessThan(1e-4);
    expect(Number(await panel.getAttribute('data-prob-error'))).toBeLessThan(1e-5);
    expect(Number(await panel.getAttribute('data-output-error'))).toBeLessThan(1e-4);
    for (let stage = 1; stage <= 4; stage++) {
      await page.locator('[data-testid="step-next"]').click();
      expect(await panel.getAttribute('data-stage')).toBe(String(stage));
    }
    expect(await page.locator('[data-testid="step-output"]').textContent()).toMatch(/o3/);
    // KaTeX loads on the first formula.
    await page.locator('[data-testid="tex"] .katex').first().waitFor();
    expect(await page.locator('[data-testid="tex"] .katex').count()).toBe(1);
    await page.locator('[data-testid="step-next"]').click();
    expect(await panel.getAttribute('data-query')).toBe('4');
    await page.locator('body').press('ArrowLeft');
    expect(await panel.getAttribute('data-query')).toBe('3');
    expect(await panel.getAttribute('data-stage')).toBe('4');
    await screenshot(page, 'ui-step-through');

    // Generation appends a row to every attention matrix.
    await page.locator('[data-testid="generate-next"]').click();
    await page.waitForFunction(() => window.__attentionLab!.store!.getState().text.length === 9);
    await settled();
    expect((await canvasData('attention-heatmap')).rows).toBe('9');
    expect(await page.locator('[data-testid="token-input"]').inputValue()).toHaveLength(9);
    expect((await canvasData('attention-heatmap')).checksum).toBe(
      valuesChecksum(await headValues(0, 0)),
    );
  });

  it('removing positions empties the positions panel and changes what the model sees', async () => {
    await open('text=abcabcab&tab=positions');
    const sim = await canvasData('positions-similarity');
    const positions = await page.evaluate(() => {
      const p = window.__attentionLab!.store!.getState().run!.trace.decoder!.embedding.positions!;
      return { shape: p.shape, data: Array.from(p.data) };
    });
    expect(sim.checksum).toBe(
      valuesChecksum(
        positionalSimilarity({ shape: positions.shape, data: Float32Array.from(positions.data) }),
      ),
    );
    const before = await canvasData('attention-heatmap');
    await page.locator('[data-testid="positions-switch"]').uncheck();
    await settled();
    await page.locator('[data-testid="positions-absent"]').waitFor();
    expect((await canvasData('attention-heatmap')).checksum).not.toBe(before.checksum);
    expect(await page.locator('[data-testid="counterfactual"]').first().textContent()).toMatch(
      /positions removed/,
    );
    expect(await page.locator('[data-testid="positions-toggle"]').isChecked()).toBe(false);
    await screenshot(page, 'ui-positions-off');
  });

  it('the whole view comes back from the URL, and the metrics table sorts and focuses', async () => {
    await open('text=abcabcab&tab=metrics&head=d1.2&theme=dark&values=scores');
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    expect(await page.locator('[data-testid="focus-layer"]').inputValue()).toBe('1');
    expect(await page.locator('[data-testid="mode-scores"]').getAttribute('aria-checked')).toBe(
      'true',
    );
    const rows = page.locator('[data-testid="metrics-row"]');
    expect(await rows.count()).toBe(8);
    await page.locator('[data-testid="sort-firstToken"]').click();
    const sinks = await rows.evaluateAll((rs) =>
      rs.map((r) => Number(r.querySelector('[data-metric="firstToken"]')!.textContent)),
    );
    expect([...sinks].sort((a, b) => b - a)).toEqual(sinks);
    const ref = await rows.nth(3).getAttribute('data-head-ref');
    await rows.nth(3).click();
    const [layer, head] = ref!.slice(1).split('.');
    expect(await page.locator('[data-testid="focus-layer"]').inputValue()).toBe(layer);
    expect(await page.locator('[data-testid="focus-head"]').inputValue()).toBe(head);
    // The hash follows on the next frame; the default head (d0.0) is left out of it.
    await page.waitForFunction(
      (ref) =>
        ref === 'd0.0' ? !location.hash.includes('head=') : location.hash.includes(`head=${ref}`),
      ref,
    );
    await screenshot(page, 'ui-metrics-dark');
    await page.locator('[data-testid="theme-toggle"]').click();
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
  });

  it('exports the view as PNG and SVG and the trace as JSON', async () => {
    await open('text=abcabcab');
    const save = async (testId: string) => {
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.locator(`[data-testid="${testId}"]`).click(),
      ]);
      return readFileSync((await download.path())!);
    };
    const png = await save('export-png');
    expect(Array.from(png.subarray(0, 8))).toEqual([
      0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
    ]);
    const svg = (await save('export-svg')).toString();
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<rect x="\d+" y="\d+" width="16"/g)).toHaveLength(64);
    const json = JSON.parse((await save('export-json')).toString());
    expect(json.trace.decoder.layers).toHaveLength(2);
    expect(json.trace.decoder.layers[0].attentions[0].probs.shape).toEqual([4, 8, 8]);
  });

  it('shows an empty-input hint and a truncation notice instead of failing', async () => {
    await open('text=abc');
    await page.locator('[data-testid="token-input"]').fill('');
    await page.locator('[data-testid="empty-hint"]').waitFor();
    await page.locator('[data-testid="token-input"]').fill('x'.repeat(50));
    await page.locator('[data-testid="truncation-notice"]').waitFor();
    await settled();
    expect((await canvasData('attention-heatmap')).rows).toBe('32');
    expect(await page.locator('.notice-error').count()).toBe(0);
  });

  it('compares pre-norm and post-norm on the same input with both loss curves', async () => {
    await open('text=abcabcab&tab=norms');
    await page.waitForFunction(
      () => window.__attentionLab!.store!.getState().compare?.run?.done === true,
      undefined,
      { timeout: 60_000 },
    );
    const compare = page.locator('[data-testid="norm-compare"]');
    expect(await compare.locator('.compare-column').count()).toBe(2);
    expect(await compare.locator('.compare-column h3').allTextContents()).toEqual([
      expect.stringMatching(/lm-pre.*pre-norm/),
      expect.stringMatching(/lm-post.*post-norm/),
    ]);
    expect(await page.locator('[data-testid="loss-curves"] path.series').count()).toBe(2);
    const input = await page.evaluate(
      () => window.__attentionLab!.store!.getState().compare!.run!.input,
    );
    expect(input).toEqual({ text: 'abcabcab' });
    await screenshot(page, 'ui-norm-compare');
  });

  it('measures the forward pass at growing lengths for the cost panel', async () => {
    await open('text=abcabcab&tab=cost');
    await page.locator('[data-testid="measure-cost"]').click();
    await settled();
    expect(await page.locator('[data-testid="measurements"] tr').count()).toBe(3); // 8, 16, 32
    expect(await page.locator('[data-testid="measured-chart"] circle').count()).toBe(3);
  });

  it('draws encoder, decoder and cross-attention of an encoder–decoder model', async () => {
    await open('text=ab&src=abc&tab=encdec');
    expect(await page.locator('[data-testid="cross-attention"]').textContent()).toMatch(
      /no encoder/,
    );
    await page.locator('[data-testid="model-picker"]').selectOption('dates');
    await page.waitForFunction(
      () => window.__attentionLab!.store!.getState().modelInfo?.name === 'dates',
    );
    await settled();
    const panel = page.locator('[data-testid="cross-attention"]');
    const id = await page.evaluate(() => String(window.__attentionLab!.store!.getState().run!.id));
    expect(await panel.getAttribute('data-request-id')).toBe(id);
    const tokens = await page.evaluate(() => {
      const t = window.__attentionLab!.store!.getState().run!.tokens;
      return { enc: t.encoder!.length, dec: t.decoder!.length };
    });
    const cross = await canvasData('cross-heatmap');
    expect(cross.requestId).toBe(id);
    expect([cross.rows, cross.cols]).toEqual([String(tokens.dec), String(tokens.enc)]);
    expect(cross.checksum).toBe(
      valuesChecksum(await headValues(0, 0, 'probs', 'decoder', 'cross')),
    );
    expect((await canvasData('encoder-heatmap')).checksum).toBe(
      valuesChecksum(await headValues(0, 0, 'probs', 'encoder')),
    );
    expect(await page.locator('[data-testid="alignment"] line').count()).toBeGreaterThan(0);
    await screenshot(page, 'ui-encoder-decoder');
  });

  it('works offline after the first visit', async () => {
    await open('text=abcabcab');
    await page.waitForFunction(
      async () => {
        await navigator.serviceWorker.ready;
        return (await caches.match('models/lm-pre/model.safetensors')) !== undefined;
      },
      undefined,
      { timeout: 60_000 },
    );
    await browser.context.setOffline(true);
    try {
      await page.reload();
      await settled();
      expect((await canvasData('attention-heatmap')).checksum).toBe(
        valuesChecksum(await headValues(0, 0)),
      );
    } finally {
      await browser.context.setOffline(false);
    }
  });
});
