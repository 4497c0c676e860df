/**
 * Served cross-origin isolated (COOP/COEP, as `npm start` and `npm run preview` serve it), the app
 * runs on tfjs-wasm's threaded build with our own matrix products split over more than one thread
 * (src/model/kernels/gemmPool.ts), and its worker does not crash (it used to, "ReferenceError: e
 * is not defined", src/workers/backend.ts); without the headers it runs on one thread, and
 * `?threads=N` sets the count. All compute the same predictions: each product's parts are summed
 * in the order of one thread.
 */
import { describe, expect, it } from 'vitest';
import type { DebugEvent } from '../../src/client/debug';
import { CROSS_ORIGIN_ISOLATION, openApp } from '../../scripts/lib/harness';

interface Outcome {
  isolated: boolean;
  backend: { backend: string; threads?: number; ownGemm?: boolean; fallbacks: string[] };
  predictions: unknown;
  problems: DebugEvent[];
  errors: string[];
}

/**
 * Open the app on wasm, let it load its default model and run its default text. The e2e model
 * (harness.ts, d = 128) has linear layers past gemmPool.ts's MIN_SPLIT_MACS from about 20 tokens
 * on, and that text has 42: on threads they are split.
 */
async function runOnWasm(headers?: Record<string, string>, query = ''): Promise<Outcome> {
  const app = await openApp({ query: `?backend=wasm${query}`, headers });
  try {
    const backend = (await app.waitForEvent('backend')).detail as Outcome['backend'];
    await app.waitForEvent('loaded');
    const run = (await app.events()).findLast(
      (e) => e.event === 'request' && (e.detail as { type: string }).type === 'run',
    )!;
    const done = await app.waitForEvent('done', run.id);
    return {
      isolated: await app.page.evaluate(() => crossOriginIsolated),
      backend,
      predictions: (done.detail as { predictions: unknown }).predictions,
      // A worker crash shows as a notice (the client restarts it) or an error event.
      problems: (await app.events()).filter((e) => e.event === 'notice' || e.event === 'error'),
      errors: app.errors.filter((e) => !/404/.test(e)),
    };
  } finally {
    await app.close();
  }
}

describe('wasm threads', () => {
  let plain: Outcome;

  it('run one thread without cross-origin isolation', async () => {
    plain = await runOnWasm();
    expect(plain.isolated).toBe(false);
    expect(plain.backend).toMatchObject({ backend: 'wasm', threads: 1, ownGemm: true });
    expect(plain.problems).toEqual([]);
    expect(plain.errors).toEqual([]);
  });

  it('run several threads under COOP/COEP, without a worker crash, to the same predictions', async () => {
    const isolated = await runOnWasm(CROSS_ORIGIN_ISOLATION);
    expect(isolated.isolated).toBe(true);
    expect(isolated.backend).toMatchObject({ backend: 'wasm', ownGemm: true, fallbacks: [] });
    expect(isolated.backend.threads).toBeGreaterThan(1);
    expect(isolated.problems).toEqual([]);
    expect(isolated.errors).toEqual([]);
    expect(isolated.predictions).toEqual(plain.predictions);
  });

  it('run the count ?threads= asks for under COOP/COEP (scripts/bench-threads.ts)', async () => {
    const one = await runOnWasm(CROSS_ORIGIN_ISOLATION, '&threads=1');
    expect(one.isolated).toBe(true);
    expect(one.backend).toMatchObject({ backend: 'wasm', threads: 1, ownGemm: true });
    expect(one.problems).toEqual([]);
    expect(one.predictions).toEqual(plain.predictions);
  });
});
