/**
 * How the built app behaves behind real servers: `vite preview` (a single-page fallback that
 * answers unknown paths with index.html, and the Content-Security-Policy header), a server that
 * lets the browser cache for ten minutes, and offline. Each test reads what the page did from
 * `window.__attentionLab` (events and paints) and what the service worker stored from Cache
 * Storage.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preview, type PreviewServer } from 'vite';
import type { Page } from 'playwright-core';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';
import { randomCheckpoint } from '../../scripts/make-random-gpt2';
import {
  DIST,
  ensureTestModels,
  launchChromium,
  ROOT,
  serveStatic,
  TEST_MODEL,
  TEST_MODEL_CONFIG,
  TEST_MODELS,
  type Browser,
  type StaticServer,
} from '../../scripts/lib/harness';

let browser: Browser;
let page: Page;
/** Content-Security-Policy violations the page and its workers reported. */
const violations: string[] = [];

beforeAll(async () => {
  await ensureTestModels();
  await useFastestNodeBackend(); // for randomCheckpoint
  browser = await launchChromium();
  page = browser.page;
  // Violations in the page (the meta tag and the header) and in each worker (the header).
  await browser.context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) =>
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  page.on('worker', (worker) => {
    worker.on('console', (m) => {
      if (/Content Security Policy|CSP violation/.test(m.text())) violations.push(m.text());
    });
    void worker
      .evaluate(() =>
        self.addEventListener('securitypolicyviolation', (e) =>
          console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`),
        ),
      )
      .catch(() => {});
  });
  page.on('console', (m) => {
    if (/Content Security Policy|CSP violation/.test(m.text())) violations.push(m.text());
  });
});

afterAll(async () => {
  await browser?.close();
});

/** The id of the latest `done` run once the main heatmap has painted it. */
async function painted(): Promise<number> {
  const handle = await page.waitForFunction(
    () => {
      const lab = window.__attentionLab;
      const done = lab?.events.filter((e) => e.event === 'done').at(-1);
      if (!done) return false;
      const paint = lab!.paints.some((p) => p.panel === 'attention-heatmap' && p.id === done.id);
      return paint ? done.id : false;
    },
    undefined,
    { timeout: 120_000 },
  );
  return (await handle.jsonValue()) as number;
}

/** The predictions of run `id` (from its `done` event). */
async function predictions(id: number): Promise<unknown> {
  return page.evaluate(
    (id) =>
      (
        window.__attentionLab!.events.find((e) => e.event === 'done' && e.id === id)!.detail as {
          predictions: unknown;
        }
      ).predictions,
    id,
  );
}

/** A fresh page load (going from one hash to another would only change the hash). */
async function open(url: string): Promise<void> {
  await page.goto('about:blank');
  await page.goto(url);
}

/** Wait until the service worker controls the page and has stored `file` (relative to the page). */
async function stored(file: string): Promise<void> {
  await page.waitForFunction(
    async (file) => {
      if (!navigator.serviceWorker.controller) return false;
      return (await caches.match(new URL(file, location.href).href)) !== undefined;
    },
    file,
    { timeout: 120_000 },
  );
}

/** Every Cache Storage key, as `cache name → URLs`. */
async function cacheKeys(): Promise<Record<string, string[]>> {
  return page.evaluate(async () => {
    const out: Record<string, string[]> = {};
    for (const name of await caches.keys())
      out[name] = (await (await caches.open(name)).keys()).map((r) => r.url);
    return out;
  });
}

/** The files the build told the service worker to store (dist/sw.js's BUILD line). */
async function buildList(url: string): Promise<string[]> {
  const sw = await (await fetch(new URL('sw.js', url))).text();
  return (JSON.parse(/^const BUILD = (.*);$/m.exec(sw)![1]) as { files: string[] }).files;
}

describe('behind `vite preview`: a single-page fallback and the CSP header', () => {
  let server: PreviewServer;
  let url: string;

  beforeAll(async () => {
    server = await preview({
      root: ROOT,
      logLevel: 'silent',
      preview: { host: '127.0.0.1', port: 0, strictPort: false },
    });
    url = server.resolvedUrls!.local[0];
  });

  afterAll(async () => {
    await server?.close();
  });

  it('sends a strict policy, in the page and as a header, and the app runs with no violation', async () => {
    const response = await page.goto(url);
    const header = response!.headers()['content-security-policy'];
    expect(header).toMatch(/script-src 'self' 'wasm-unsafe-eval' blob:;/);
    expect(header).not.toMatch(/unsafe-inline|'unsafe-eval'/);
    const meta = await page
      .locator('meta[http-equiv="Content-Security-Policy"]')
      .getAttribute('content');
    expect(header.startsWith(meta!)).toBe(true);
    await painted();
    // The step-through draws formulas: KaTeX, its stylesheet and fonts load under the policy.
    await open(`${url}#tab=step&q=2`);
    await painted();
    // The step-through shows its formulas once the run with queries, keys and values is in.
    await page.locator('[data-testid="tex"] .katex').first().waitFor({ timeout: 120_000 });
    expect(violations).toEqual([]);
  });

  it('works offline after the first visit, from the list the build wrote (no crawl)', async () => {
    await open(`${url}#text=${encodeURIComponent('To be, or not to be')}`);
    const list = await buildList(url);
    await stored('models/lm-prenorm/model.safetensors');
    const keys = await cacheKeys();
    const app = Object.entries(keys).find(([name]) => name.startsWith('attention-lab-app-'))!;
    expect(app, JSON.stringify(Object.keys(keys))).toBeDefined();
    const paths = app[1].map((u) => new URL(u).pathname.slice(1));
    // What the build listed, plus at most what the page fetched besides (never assets/assets/…).
    for (const file of list) expect(paths).toContain(file);
    expect(paths.length).toBeLessThanOrEqual(list.length + 2);
    expect(paths.filter((p) => p.includes('assets/assets/'))).toEqual([]);
    // Only woff2 fonts, and the page's text never became a cache key.
    expect(paths.filter((p) => /\.(?:woff|ttf)$/.test(p))).toEqual([]);
    expect(app[1].filter((u) => u.includes('#') || u.includes('?'))).toEqual([]);

    await browser.context.setOffline(true);
    try {
      await page.reload();
      const id = await painted();
      expect(await predictions(id)).toBeDefined();
      expect(await page.locator('[data-testid="token-input"]').inputValue()).toBe(
        'To be, or not to be',
      );
    } finally {
      await browser.context.setOffline(false);
    }
  });
});

describe('models behind a server that lets the browser cache them (max-age=600, ETag)', () => {
  let models: string;
  let server: StaticServer;

  beforeAll(async () => {
    models = mkdtempSync(join(tmpdir(), 'attention-lab-serving-'));
    cpSync(TEST_MODELS, join(models, 'shipped'), { recursive: true });
    // The same model again, to be loaded by URL from this origin.
    cpSync(join(TEST_MODELS, TEST_MODEL), join(models, 'elsewhere'), { recursive: true });
    server = await serveStatic(
      { '/': DIST, '/models/': join(models, 'shipped'), '/elsewhere/': join(models, 'elsewhere') },
      { cacheControl: 'public, max-age=600' },
    );
  });

  afterAll(async () => {
    await server?.close();
    rmSync(models, { recursive: true, force: true });
  });

  it('a replaced shipped model is revalidated and used after a reload, never served stale', async () => {
    const weights = `models/${TEST_MODEL}/model.safetensors`;
    await open(`${server.url}#text=abcabcab`);
    await painted();
    // On the first visit the model was fetched before the service worker took over; from the
    // reload on, the worker's fetches go through it.
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    await page.reload();
    const before = await predictions(await painted());
    await stored(weights);

    const { safetensors } = randomCheckpoint(TEST_MODEL_CONFIG, 'F32', 8);
    writeFileSync(join(models, 'shipped', TEST_MODEL, 'model.safetensors'), safetensors);
    const asked = server.requests.length;
    await page.reload();
    const after = await predictions(await painted());
    expect(server.requests.slice(asked)).toContain(`GET /${weights}`);
    expect(after).not.toEqual(before);
  });

  it('a model loaded by URL from this origin is kept only in the model cache, which "clear" empties', async () => {
    await open(`${server.url}#text=abcabcab`);
    await painted();
    const loads = () =>
      page.evaluate(() => window.__attentionLab!.events.filter((e) => e.event === 'loaded').length);
    const before = await loads();
    await page.getByTestId('model-address').fill(`${server.url}elsewhere/`);
    await page.getByTestId('model-address-load').click();
    await page.waitForFunction((n) => {
      const events = window.__attentionLab!.events;
      return events.filter((e) => e.event === 'loaded').length > n;
    }, before);
    await painted();
    const holding = async () =>
      Object.entries(await cacheKeys())
        .filter(([, urls]) => urls.some((u) => u.includes('/elsewhere/')))
        .map(([name]) => name);
    await page.waitForFunction(async () => (await caches.has('attention-lab-models')) === true);
    expect(await holding()).toEqual(['attention-lab-models']);
    const button = page.getByTestId('clear-model-cache');
    await button.getByText(/clear cached models \(\d/).waitFor();
    await button.click();
    await button.getByText('clear cached models (0 B)').waitFor();
    expect(await holding()).toEqual([]);
  });
});
