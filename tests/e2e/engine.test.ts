/**
 * The worker engine in the built app, in headless Chromium: the model really runs on WebGL
 * (SwiftShader) inside the worker, its trace arrives layer by layer, a superseded request never
 * paints, and a lost WebGL context is recovered from. Forced wasm and cpu backends work too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DebugEvent } from '../../src/client/debug';
import { openApp, screenshot, TEST_MODEL_CONFIG, type App } from '../../scripts/lib/harness';

const LAYERS = TEST_MODEL_CONFIG.n_layer;

/** The chunk events of request `id`, as `embedding`, 0…L−1, `output`. */
function chunkOrder(events: DebugEvent[], id: number): (string | number)[] {
  return events
    .filter((e) => e.event === 'chunk' && e.id === id)
    .map((e) => {
      const d = e.detail as { type: string; layer: number | null };
      return d.type === 'layer' ? d.layer! : d.type;
    });
}

/** Id of the latest request of this type that the app sent. */
function lastRequest(events: DebugEvent[], type: string): DebugEvent | undefined {
  return events.findLast(
    (e) => e.event === 'request' && (e.detail as { type: string }).type === type,
  );
}

describe('on WebGL in the worker', () => {
  let app: App;

  beforeAll(async () => {
    app = await openApp();
    // The app loads its default model and runs its default text on its own.
    await app.waitForEvent('loaded');
  });

  afterAll(async () => {
    await app?.close();
  });

  it('runs on webgl with SwiftShader and streams one chunk per layer as it is read back', async () => {
    const badge = app.page.getByTestId('backend-badge');
    await badge.and(app.page.locator('[data-backend="webgl"]')).waitFor({ timeout: 60_000 });
    expect(await badge.innerText()).toMatch(/SwiftShader/);
    const backend = await app.waitForEvent('backend');
    expect(backend.detail).toMatchObject({ backend: 'webgl', fallbacks: [] });

    const run = lastRequest(await app.events(), 'run')!;
    await app.waitForEvent('done', run.id);
    const events = await app.events();
    expect(chunkOrder(events, run.id)).toEqual([
      'embedding',
      ...Array.from({ length: LAYERS }, (_, i) => i),
      'output',
    ]);
    // Streamed, not batched: layers reach the page one after another, over the forward's time.
    const times = events.filter((e) => e.event === 'chunk' && e.id === run.id).map((e) => e.at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times.at(-1)! - times[0]).toBeGreaterThan(0);
    expect(new Set(times).size).toBeGreaterThan(LAYERS / 2);
    // And the panels drew it.
    await app.page.waitForFunction(
      (id) => window.__attentionLab!.paints.some((p) => p.id === id),
      run.id,
    );
    await screenshot(app.page, 'engine-webgl');
    expect(app.errors.filter((e) => !/404/.test(e))).toEqual([]);
  });

  it('never paints a superseded request', async () => {
    // In the page: change the text, and as soon as that run's first chunk arrives, change it
    // again, so each run is superseded while in flight. Returns each run's id and start time.
    const acted = await app.page.evaluate(async (rounds) => {
      const h = window.__attentionLab!;
      const push = h.events.push;
      let waiting: { id: number; resolve: () => void } | null = null;
      h.events.push = function (...items) {
        const n = push.apply(this, items);
        for (const e of items) {
          if (waiting && e.event === 'chunk' && e.id === waiting.id) waiting.resolve();
        }
        return n;
      };
      const started: { id: number; at: number }[] = [];
      for (let i = 0; i < rounds; i++) {
        h.store!.getState().setText(`the cat sat on the mat ${'ab'.repeat(i + 1)}`);
        h.store!.getState().runNow();
        const request = h.events.findLast(
          (e) => e.event === 'request' && (e.detail as { type: string }).type === 'run',
        )!;
        started.push({ id: request.id, at: request.at });
        await new Promise<void>((resolve) => (waiting = { id: request.id, resolve }));
        waiting = null;
      }
      h.events.push = push;
      return started;
    }, 4);
    const last = acted.at(-1)!;
    await app.waitForEvent('done', last.id);
    await app.page.waitForFunction(
      (id) => window.__attentionLab!.paints.some((p) => p.id === id),
      last.id,
    );
    const events = await app.events();
    const paints = await app.page.evaluate(() => window.__attentionLab!.paints);
    expect(new Set(acted.map((a) => a.id)).size).toBe(acted.length);
    for (let i = 0; i < acted.length - 1; i++) {
      const { id } = acted[i];
      const supersededAt = acted[i + 1].at;
      // In flight when superseded (its first chunk had come); nothing of it passed after that.
      expect(events.some((e) => e.event === 'chunk' && e.id === id && e.at < supersededAt)).toBe(
        true,
      );
      const late = events.filter(
        (e) => e.id === id && e.event !== 'request' && e.at > supersededAt,
      );
      expect(late).toEqual([]);
      expect(events.some((e) => e.event === 'done' && e.id === id)).toBe(false);
      expect(paints.filter((p) => p.id === id && p.at > supersededAt)).toEqual([]);
    }
    expect(chunkOrder(events, last.id)).toHaveLength(LAYERS + 2);
  });

  it('recovers from a lost WebGL context: new worker, model reloaded, last run re-run', async () => {
    const before = await app.events();
    const run = lastRequest(before, 'run')!;
    const dones = before.filter((e) => e.event === 'done' && e.id === run.id).length;
    await app.page.evaluate(() => window.__attentionLab!.client!.loseContextForTesting());
    const notice = await app.waitForEvent('notice');
    expect(notice.detail).toMatch(/lost its WebGL context/);
    await app.page
      .getByText(/lost its WebGL context/)
      .first()
      .waitFor();
    // A fresh worker on WebGL again, the model loaded into it, the last run answered again.
    await app.waitForEvent('reloaded');
    await app.page.waitForFunction(
      ([id, n]) =>
        window.__attentionLab!.events.filter((e) => e.event === 'done' && e.id === id).length > n,
      [run.id, dones] as const,
      { timeout: 120_000 },
    );
    const events = await app.events();
    const backends = events.filter((e) => e.event === 'backend');
    expect(backends).toHaveLength(2);
    expect(backends[1].detail).toMatchObject({ backend: 'webgl' });
    expect(backends[1].at).toBeGreaterThan(notice.at);
    expect(
      chunkOrder(
        events.filter((e) => e.at > notice.at),
        run.id,
      ),
    ).toHaveLength(LAYERS + 2);
    // And the app goes on working on the new worker.
    await app.page.evaluate(() => {
      window.__attentionLab!.store!.getState().setText('after the context came back');
      window.__attentionLab!.store!.getState().runNow();
    });
    const next = lastRequest(await app.events(), 'run')!;
    expect(next.id).toBeGreaterThan(run.id);
    await app.waitForEvent('done', next.id);
    await app.page.waitForFunction(
      (id) => window.__attentionLab!.paints.some((p) => p.id === id),
      next.id,
    );
    await screenshot(app.page, 'engine-context-restored');
  });
});

describe.each(['wasm', 'cpu'] as const)('forced %s backend', (backend) => {
  it(`runs the app on ${backend} when asked with ?backend=${backend}`, async () => {
    const app = await openApp({ query: `?backend=${backend}` });
    try {
      expect((await app.waitForEvent('backend')).detail).toMatchObject({ backend, fallbacks: [] });
      await app.page.locator(`[data-testid="backend-badge"][data-backend="${backend}"]`).waitFor();
      await app.waitForEvent('loaded');
      const run = lastRequest(await app.events(), 'run')!;
      await app.waitForEvent('done', run.id);
      expect(chunkOrder(await app.events(), run.id)).toHaveLength(LAYERS + 2);
    } finally {
      await app.close();
    }
  });
});

it('prefers wasm over a software WebGL and says why', async () => {
  const app = await openApp({ query: '' });
  try {
    const backend = (await app.waitForEvent('backend')).detail as {
      backend: string;
      fallbacks: string[];
    };
    expect(backend.backend).toBe('wasm');
    expect(backend.fallbacks).toEqual([
      expect.stringMatching(/^webgl: ANGLE .*SwiftShader.* is a software renderer/),
    ]);
    const badge = app.page.locator('[data-testid="backend-badge"][data-backend="wasm"]');
    expect(await badge.getAttribute('title')).toContain('software renderer');
    await app.waitForEvent('loaded');
  } finally {
    await app.close();
  }
  // The describe block above runs with ?backend=webgl: the same renderer, used when asked for.
});

it('falls back to wasm and says why when the browser has no WebGL', async () => {
  const app = await openApp({ chromiumArgs: ['--disable-gpu', '--disable-software-rasterizer'] });
  try {
    const backend = (await app.waitForEvent('backend')).detail as {
      backend: string;
      fallbacks: string[];
    };
    expect(backend.backend).toBe('wasm');
    expect(backend.fallbacks).toEqual([expect.stringMatching(/^webgl: .+/)]);
    const badge = app.page.locator('[data-testid="backend-badge"][data-backend="wasm"]');
    await badge.waitFor();
    expect(await badge.getAttribute('title')).toContain(backend.fallbacks[0]);
    await app.waitForEvent('loaded');
    const run = lastRequest(await app.events(), 'run')!;
    await app.waitForEvent('done', run.id);
  } finally {
    await app.close();
  }
});
