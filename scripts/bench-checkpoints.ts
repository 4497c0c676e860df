/**
 * Loading a GPT-2-small-shaped checkpoint in the built app (headless Chromium, the backend the
 * app picks: WebGL on SwiftShader here), as a user would: the URL typed into the model box, the
 * folder served from a second origin as the Hub serves it. Measures
 *  - load time from the network (typed → model ready) and again from Cache Storage after a
 *    page reload, with the worker's own figure and the download rate;
 *  - memory: `tf.memory()` in the worker after the load (the weights are uploaded by then), and
 *    the peak resident memory of Chromium's renderer (page + worker: the download buffer and
 *    the float32 copies) and GPU process (SwiftShader keeps textures in RAM) during the load;
 *  - forward time at 64 and 256 tokens: bare (`trace: false`) and with the full trace streamed,
 *    median of a few runs after an untimed one that compiles the shaders.
 * Prints a table and appends a `checkpoints` entry to bench-results.json (git-ignored).
 *
 *   npx tsx scripts/bench-checkpoints.ts [--no-build] [--backend webgl|wasm|cpu]
 */
import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { BackendInfo, ModelInfo } from '../src/workers/protocol';
import { serveCheckpoints } from './lib/checkpointServer';
import { chromiumProcesses, statusBytes } from './lib/chromiumProcesses';
import { openApp, ROOT } from './lib/harness';

const GPT2_DIR = join(ROOT, 'tmp', 'gpt2-small-random');
const LENGTHS = [64, 256];
const REPS = 3;

interface Stats {
  median: number;
  samples: number[];
}

interface ProcessMemory {
  /** Resident now and at its peak since the last reset, bytes. */
  rss: number;
  peak: number;
}

interface Row {
  what: string;
  value: string;
}

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

function median(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor((sorted.length - 1) / 2)], samples };
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

// --- memory of this process's Chromium, from /proc --------------------------------------------

/** Sum over the renderers, and the GPU process. */
function memory(): Record<'renderer' | 'gpu', ProcessMemory> {
  const out = { renderer: { rss: 0, peak: 0 }, gpu: { rss: 0, peak: 0 } };
  for (const { pid, type } of chromiumProcesses()) {
    const key = type === 'renderer' ? 'renderer' : type === 'gpu-process' ? 'gpu' : null;
    if (!key) continue;
    out[key].rss += statusBytes(pid, 'VmRSS');
    out[key].peak += statusBytes(pid, 'VmHWM');
  }
  return out;
}

/** Start the peaks (VmHWM) over from the current resident size (Linux `clear_refs` 5). */
function resetPeaks(): void {
  for (const { pid } of chromiumProcesses()) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      // not allowed or gone: that process's peak then covers its whole life
    }
  }
}

// --- the app ------------------------------------------------------------------------------------

/**
 * Type `address` into the model box and load it: ms until the model is ready, and until the
 * app's first run on it (its sample text) is done, the first forward included.
 */
async function loadFromBox(
  page: Page,
  address: string,
): Promise<{ wallMs: number; firstRunMs: number }> {
  const before = await page.evaluate(() => window.__attentionLab!.events.length);
  const t0 = Date.now();
  await page.getByTestId('model-address').fill(address);
  await page.getByTestId('model-address-load').click();
  const handle = await page.waitForFunction(
    (from) =>
      window
        .__attentionLab!.events.slice(from)
        .find((e) => e.event === 'loaded' || e.event === 'error'),
    before,
    { timeout: 600_000, polling: 20 },
  );
  const end = (await handle.jsonValue()) as { event: string; detail: unknown };
  if (end.event === 'error') throw new Error(`load failed: ${JSON.stringify(end.detail)}`);
  const wallMs = Date.now() - t0;
  await page.waitForFunction(
    (from) => window.__attentionLab!.events.slice(from).some((e) => e.event === 'done'),
    before,
    { timeout: 600_000, polling: 20 },
  );
  return { wallMs, firstRunMs: Date.now() - t0 };
}

/** How long each stage of the latest load took (first to last progress event), ms. */
async function stageTimes(page: Page): Promise<Record<string, number>> {
  return page.evaluate(() => {
    const events = window.__attentionLab!.events;
    const load = events.findLast((e) => e.event === 'loaded')!.id;
    const spans: Record<string, [number, number]> = {};
    for (const e of events) {
      if (e.event !== 'progress' || e.id !== load) continue;
      const { stage } = e.detail as { stage: string };
      spans[stage] = [spans[stage]?.[0] ?? e.at, e.at];
    }
    return Object.fromEntries(Object.entries(spans).map(([s, [a, b]]) => [s, b - a]));
  });
}

const stagesText = (stages: Record<string, number>) =>
  Object.entries(stages)
    .map(([stage, ms]) => `${stage} ${(ms / 1000).toFixed(2)} s`)
    .join(', ');

async function waitForIdle(page: Page): Promise<void> {
  await page.waitForFunction(
    () => {
      const s = window.__attentionLab?.store?.getState();
      return Boolean(s?.modelInfo && s.loadId === null && !s.inFlight);
    },
    null,
    { timeout: 600_000, polling: 50 },
  );
}

/**
 * Worker timings of `reps` runs of `ids` after an untimed one: `forwardMs` (the forward and its
 * readbacks) and `totalMs` (tokens to `done`, chunks posted included).
 */
async function forwardTimes(
  page: Page,
  ids: number[],
  trace: boolean,
): Promise<{ forward: Stats; total: Stats }> {
  // No named functions inside: tsx would wrap them in a helper the page does not have.
  const timings = await page.evaluate(
    async ({ ids, trace, reps }) => {
      const h = window.__attentionLab!;
      const plain = { causalMask: true, usePositions: true, ablatedHeads: [] };
      const out: { forwardMs: number; totalMs: number }[] = [];
      // The first run compiles the shaders for this length: not kept.
      for (let i = 0; i <= reps; i++) {
        const id = h.client!.run({ ids }, plain, { captureQKV: trace, topK: 5, trace });
        let end = h.events.find((e) => e.id === id && (e.event === 'done' || e.event === 'error'));
        while (!end) {
          await new Promise((r) => setTimeout(r, 5));
          end = h.events.find((e) => e.id === id && (e.event === 'done' || e.event === 'error'));
        }
        if (end.event === 'error') throw new Error(JSON.stringify(end.detail));
        if (i > 0)
          out.push((end.detail as { timings: { forwardMs: number; totalMs: number } }).timings);
      }
      return out;
    },
    { ids, trace, reps: REPS },
  );
  return {
    forward: median(timings.map((t) => t.forwardMs)),
    total: median(timings.map((t) => t.totalMs)),
  };
}

async function modelInfo(page: Page): Promise<ModelInfo> {
  return page.evaluate(() => window.__attentionLab!.store!.getState().modelInfo!);
}

async function ensureCheckpoint(): Promise<void> {
  if (existsSync(join(GPT2_DIR, 'model.safetensors'))) return;
  console.log(`making ${GPT2_DIR} (minutes on two cores)…`);
  const { useFastestNodeBackend } = await import('./lib/node-model');
  const { GPT2_SMALL_CONFIG, randomCheckpoint } = await import('./make-random-gpt2');
  await useFastestNodeBackend();
  const { config, safetensors } = randomCheckpoint(GPT2_SMALL_CONFIG, 'F16');
  mkdirSync(GPT2_DIR, { recursive: true });
  writeFileSync(join(GPT2_DIR, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeFileSync(join(GPT2_DIR, 'model.safetensors'), safetensors);
}

async function main(): Promise<void> {
  await ensureCheckpoint();
  if (!process.argv.includes('--no-build'))
    execSync('npx vite build', { cwd: ROOT, stdio: 'ignore' });
  const backend = option('--backend');
  const server = await serveCheckpoints({ folders: { '/gpt2-small-random/': GPT2_DIR } });
  const app = await openApp(backend ? { query: `?backend=${backend}` } : {});
  const rows: Row[] = [];
  const results: Record<string, unknown> = {};
  try {
    const { page } = app;
    await app.waitForEvent('loaded');
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
    await waitForIdle(page);
    const backendInfo = (await page.evaluate(
      () => window.__attentionLab!.store!.getState().backend,
    )) as BackendInfo;
    const address = `${server.url}gpt2-small-random/`;

    // Cold: from the (local) network.
    const before = memory();
    resetPeaks();
    const cold = await loadFromBox(page, address);
    const duringLoad = memory();
    const info = await modelInfo(page);
    const coldStages = await stageTimes(page);
    const file = info.weightsFile!.bytes;
    rows.push(
      {
        what: 'backend',
        value: `${backendInfo.backend}${backendInfo.renderer ? ` (${backendInfo.renderer})` : ''}`,
      },
      {
        what: 'model.safetensors',
        value: `${mb(file)} (F16), ${(info.parameterCount / 1e6).toFixed(1)} M parameters`,
      },
      {
        what: 'load from the network (typed → ready)',
        value: `${(cold.wallMs / 1000).toFixed(2)} s (worker: ${(info.loadMs! / 1000).toFixed(2)} s; ${stagesText(coldStages)}); first run done at ${(cold.firstRunMs / 1000).toFixed(2)} s`,
      },
      {
        what: 'tf.memory() after load',
        value: `${mb(info.memory!.tensorBytes)} in tensors${info.memory!.gpuBytes === null ? '' : `, ${mb(info.memory!.gpuBytes)} in GPU textures`} (weights ${mb(info.weightBytes)} float32)`,
      },
      {
        what: 'renderer (page + worker) peak, load and first run',
        value: `${mb(duringLoad.renderer.peak)} (+${mb(duringLoad.renderer.peak - before.renderer.rss)} over before)`,
      },
      {
        what: 'GPU process peak, load and first run',
        value: `${mb(duringLoad.gpu.peak)} (+${mb(duringLoad.gpu.peak - before.gpu.rss)} over before)`,
      },
    );
    results.load = {
      stages: coldStages,
      wallMs: cold.wallMs,
      firstRunMs: cold.firstRunMs,
      workerMs: info.loadMs,
      fileBytes: file,
      info: info.memory,
      before,
      duringLoad,
    };
    await waitForIdle(page);

    // Forward passes.
    const forward: Record<string, { forward: Stats; total: Stats }> = {};
    for (const n of LENGTHS) {
      const ids = Array.from({ length: n }, (_, i) => (i * 7919 + 13) % info.config.vocabSize);
      resetPeaks();
      const bare = await forwardTimes(page, ids, false);
      const traced = await forwardTimes(page, ids, true);
      forward[`bare-${n}`] = bare;
      forward[`trace-${n}`] = traced;
      const after = memory();
      rows.push({
        what: `${n} tokens: bare forward / run with the full trace (median of ${REPS})`,
        value: `${bare.forward.median.toFixed(0)} ms / ${traced.total.median.toFixed(0)} ms (renderer peak ${mb(after.renderer.peak)}, GPU process peak ${mb(after.gpu.peak)})`,
      });
    }
    results.forward = forward;

    // Warm: a new page, the weights from Cache Storage.
    await page.reload();
    await app.waitForEvent('loaded');
    await waitForIdle(page);
    const requestsBefore = server.count('/gpt2-small-random/model.safetensors');
    const beforeWarm = memory();
    resetPeaks();
    const warm = await loadFromBox(page, address);
    const warmMemory = memory();
    const warmInfo = await modelInfo(page);
    const warmStages = await stageTimes(page);
    const refetched = server.count('/gpt2-small-random/model.safetensors') - requestsBefore;
    rows.push({
      what: 'load from Cache Storage after a reload',
      value: `${(warm.wallMs / 1000).toFixed(2)} s (worker: ${(warmInfo.loadMs! / 1000).toFixed(2)} s; ${stagesText(warmStages)}; weights from ${warmInfo.weightsFile!.from}, ${refetched} requests for them); first run done at ${(warm.firstRunMs / 1000).toFixed(2)} s; renderer peak +${mb(warmMemory.renderer.peak - beforeWarm.renderer.rss)}, GPU process peak +${mb(warmMemory.gpu.peak - beforeWarm.gpu.rss)}`,
    });
    results.cacheLoad = {
      stages: warmStages,
      wallMs: warm.wallMs,
      firstRunMs: warm.firstRunMs,
      beforeWarm,
      warmMemory,
      workerMs: warmInfo.loadMs,
      from: warmInfo.weightsFile!.from,
      refetched,
    };
    results.backend = backendInfo;
  } finally {
    await app.close();
    await server.close();
  }

  const markdown = [
    '| GPT-2-small-shaped random checkpoint | |',
    '| --- | --- |',
    ...rows.map((r) => `| ${r.what} | ${r.value} |`),
  ].join('\n');
  console.log(`\n${markdown}\n`);
  const path = join(ROOT, 'bench-results.json');
  let all: Record<string, unknown> = {};
  try {
    all = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    // none yet, or unreadable: start over
  }
  const runs = Array.isArray(all.checkpoints) ? all.checkpoints : [];
  all.checkpoints = [...runs, { date: new Date().toISOString(), ...results, markdown }];
  writeFileSync(path, JSON.stringify(all, null, 2) + '\n');
}

await main();
