/**
 * `npm run bench`: builds the app, drives it in headless Chromium and measures the worker engine
 * for the default model, a GPT-2-small-shaped random model (at 16, 64, 256 tokens and the
 * context length) and a SmolLM2-135M-shaped random Llama (at 16, 64 and 128 tokens), on every
 * backend the browser offers (webgl, wasm, cpu; webgpu when asked for):
 *  - a bare forward (`trace: false`: batch driver, one readback, no chunks) and a forward that
 *    streams the full trace (Q/K/V included) to the main thread: median and p95 ms, their ratio;
 *  - main-thread long tasks (> 50 ms, PerformanceObserver 'longtask') during the traced runs;
 *  - intervention latency: head toggle in the app's store → every heatmap that was showing has
 *    repainted the new run (the panels' paint log);
 *  - webgl/cpu speed ratios;
 *  - long inputs (GPT-2 small at its full 1,024-token context, through the app's text box): the
 *    traced run until the big heatmap painted it, head ablation and causal-mask toggles until
 *    it repainted, and the renderer's peak resident memory (VmHWM of Chromium's renderer
 *    processes, the worker's wasm memory included).
 * Prints a table and writes bench-results.json (git-ignored). A cell whose warm-up forward
 * takes longer than the warm-up limit (15 s, or `--warm-up-limit-s`) is skipped (and later
 * lengths with it), so the whole bench stays within minutes on two cores.
 *
 *   npx tsx scripts/bench.ts [--no-build] [--backends webgl,wasm,cpu,webgpu]
 *                            [--models default,gpt2,smollm2] [--no-long | --long-only]
 *                            [--long-limit SECONDS] [--warm-up-limit-s 15]
 */
import { execSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import {
  DIST,
  ensureTestModels,
  openApp,
  ROOT,
  TEST_MODEL,
  TEST_MODELS,
  WEBGPU_ARGS,
  type App,
} from './lib/harness';
import type { BackendName, ModelIndex, ModelInfo } from '../src/workers/protocol';
import { benchLong, longTable, type LongRow } from './lib/benchLong';

/** The model of the bench's `default` rows. */
const SHIPPED_LM = 'lm-prenorm';
const LENGTHS = [16, 64, 256];

/**
 * The random models the bench writes once into tmp/ (git-ignored) with their script: GPT-2
 * small's shape, and SmolLM2-135M's (issue 13), measured at lengths of its own since its
 * 8,192-token context is far out of reach. Neither has a tokenizer the app's text would go
 * through but GPT-2's, so the intervention latency (through the text box) is GPT-2's only.
 */
const RANDOM_MODELS: Record<
  string,
  { dir: string; script: string; lengths?: number[]; latency: boolean; long: boolean }
> = {
  gpt2: {
    dir: 'gpt2-small-random',
    script: 'scripts/make-random-gpt2.ts',
    latency: true,
    long: true,
  },
  smollm2: {
    dir: 'smollm2-135m-random',
    script: 'scripts/make-random-llama.ts',
    lengths: [16, 64, 128],
    latency: false,
    long: false,
  },
};
/** Timed repetitions per cell (after one untimed warm-up that compiles shaders). */
const REPS = 7;
/** A cell stops repeating after this long (at least 2 samples are always taken). */
const CELL_BUDGET_MS = 8_000;
const WARM_UP_LIMIT_MS = 1000 * Number(option('--warm-up-limit-s') ?? 15);

interface Cell {
  model: string;
  backend: BackendName;
  tokens: number;
  bare?: Stats;
  trace?: Stats;
  /** trace median / bare median. */
  ratio?: number;
  /** Long tasks (> 50 ms) on the main thread per traced run. */
  longTasksPerRun?: number;
  skipped?: string;
}

interface Stats {
  median: number;
  p95: number;
  samples: number[];
}

interface Latency {
  model: string;
  backend: BackendName;
  tokens: number;
  panels: string[];
  /** Main-thread long tasks (> 50 ms) per toggle, painting included. */
  longTasksPerToggle?: number;
  stats?: Stats;
  skipped?: string;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { median: at(0.5), p95: at(0.95), samples };
}

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

/** In the page: count long tasks from the start, and resolve waiters on client events. */
function instrument(): void {
  const w = window as unknown as {
    __longTasks: number[];
    __waitFor: (event: string, id: number) => Promise<{ event: string; detail: unknown }>;
  };
  w.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) w.__longTasks.push(e.startTime);
  }).observe({ type: 'longtask', buffered: true });
  type Found = { event: string; detail: unknown };
  const waiters: { event: string; id: number; resolve: (e: Found) => void }[] = [];
  const hook = () => {
    const h = window.__attentionLab;
    if (!h) return void setTimeout(hook, 10);
    const push = h.events.push;
    h.events.push = function (...items) {
      const n = push.apply(this, items);
      for (const e of items) {
        for (const wt of [...waiters]) {
          if ((e.event === wt.event || e.event === 'error') && e.id === wt.id) {
            waiters.splice(waiters.indexOf(wt), 1);
            wt.resolve(e);
          }
        }
      }
      return n;
    };
  };
  hook();
  w.__waitFor = (event, id) => {
    const seen = window.__attentionLab?.events.find(
      (e) => (e.event === event || e.event === 'error') && e.id === id,
    );
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => waiters.push({ event, id, resolve }));
  };
}

/** In the page: one untimed run, then timed runs of `ids`. */
async function timeRuns(
  page: Page,
  ids: number[],
  trace: boolean,
  reps: number,
  budgetMs: number,
  warmUpLimitMs: number,
): Promise<{ samples: number[]; longTasks: number; warmUpMs: number; error?: string }> {
  return page.evaluate(
    async ({ ids, trace, reps, budgetMs, warmUpLimitMs }) => {
      const w = window as unknown as {
        __longTasks: number[];
        __waitFor: (event: string, id: number) => Promise<{ event: string; detail: unknown }>;
      };
      const client = window.__attentionLab!.client!;
      const plain = { causalMask: true, usePositions: true, ablatedHeads: [] };
      const once = async () => {
        const t0 = performance.now();
        const id = client.run({ ids }, plain, {
          captureQKV: trace,
          topK: 5,
          logits: 'last',
          trace,
        });
        const e = await w.__waitFor('done', id);
        if (e.event === 'error') throw new Error(JSON.stringify(e.detail));
        return performance.now() - t0;
      };
      try {
        const warmUpMs = await once();
        if (warmUpMs > warmUpLimitMs) return { samples: [], longTasks: 0, warmUpMs };
        const start = performance.now();
        const samples: number[] = [];
        while (
          samples.length < reps &&
          (samples.length < 2 || performance.now() - start < budgetMs)
        ) {
          samples.push(await once());
        }
        const longTasks = w.__longTasks.filter((t) => t >= start).length;
        return { samples, longTasks, warmUpMs };
      } catch (e) {
        return { samples: [], longTasks: 0, warmUpMs: 0, error: (e as Error).message };
      }
    },
    { ids, trace, reps, budgetMs, warmUpLimitMs },
  );
}

/** In the page: toggle a head on and off through the store; time until every shown heatmap repainted. */
async function interventionLatency(
  page: Page,
  rounds: number,
): Promise<{ samples: number[]; panels: string[]; missing: string[]; longTasks: number }> {
  return page.evaluate(async (rounds) => {
    const w = window as unknown as { __longTasks: number[] };
    const h = window.__attentionLab!;
    const store = h.store!;
    // Resolves when the new run is done and every panel has painted it; a panel that has not
    // 2 s after the run finished is reported missing rather than waited for forever.
    const settle = (previous: number | undefined, panels: string[]) =>
      new Promise<{ at: number; missing: string[] }>((resolve) => {
        let doneAt = 0;
        const check = () => {
          const s = store.getState();
          const run = s.run;
          if (run && run.id !== previous && run.done && !s.inFlight) {
            doneAt ||= performance.now();
            const painted = panels.map((p) =>
              h.paints.findLast((x) => x.id === run.id && x.panel === p),
            );
            const missing = panels.filter((_, i) => !painted[i]);
            if (missing.length === 0 || performance.now() - doneAt > 2000) {
              const times = painted.filter(Boolean).map((p) => p!.at);
              return resolve({ at: Math.max(doneAt, ...times), missing });
            }
          }
          setTimeout(check, 1);
        };
        check();
      });
    const s0 = store.getState();
    const stack = s0.modelInfo!.config.architecture === 'encoder-only' ? 'encoder' : 'decoder';
    const shownRun = s0.run!.id;
    const panels = [...new Set(h.paints.filter((p) => p.id === shownRun).map((p) => p.panel))];
    const samples: number[] = [];
    const missing = new Set<string>();
    let timedFrom = Infinity;
    // Round 0 also runs the baseline (predictions of the unmodified model): not timed.
    for (let r = 0; r <= rounds; r++) {
      for (const toggle of [0, 1]) {
        const before = store.getState().run?.id;
        const t0 = performance.now();
        if (r > 0 || toggle === 1) timedFrom = Math.min(timedFrom, t0);
        store.getState().toggleAblation({ stack, layer: 0, head: r % s0.modelInfo!.config.nHeads });
        const settled = await settle(before, panels);
        settled.missing.forEach((p) => missing.add(p));
        if (r > 0 || toggle === 1) samples.push(settled.at - t0);
      }
    }
    return {
      samples,
      panels: panels.filter((p) => !missing.has(p)),
      missing: [...missing],
      longTasks: w.__longTasks.filter((t) => t >= timedFrom).length,
    };
  }, rounds);
}

async function waitForStoreIdle(page: Page): Promise<void> {
  await page.waitForFunction(
    () => {
      const s = window.__attentionLab?.store?.getState();
      return Boolean(s?.modelInfo && s.loadId === null && !s.inFlight && s.run?.done);
    },
    null,
    { timeout: 600_000, polling: 50 },
  );
}

function idsFor(n: number, vocab: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 7919 + 13) % vocab);
}

async function benchModel(
  app: App,
  backend: BackendName,
  label: string,
  info: ModelInfo,
  cells: Cell[],
  latencies: Latency[],
  options: { lengths?: number[]; latency?: boolean } = {},
): Promise<void> {
  const cfg = info.config;
  const lengths = (options.lengths ?? [...new Set([...LENGTHS, cfg.contextLength])]).filter(
    (n) => n <= cfg.contextLength,
  );
  let skipRest: string | null = null;
  for (const tokens of lengths) {
    const cell: Cell = { model: label, backend, tokens };
    cells.push(cell);
    if (cfg.architecture === 'encoder-decoder') {
      cell.skipped = 'encoder–decoder models are measured through the cost panel instead';
      continue;
    }
    if (skipRest) {
      cell.skipped = 'skipped: longer still';
      continue;
    }
    // Forward time grows at least linearly with length: skip what would blow the time limit.
    const previous = cells.findLast((c) => c.model === label && c.backend === backend && c.trace);
    const estimate = previous ? (previous.trace!.median * tokens) / previous.tokens : 0;
    if (estimate > WARM_UP_LIMIT_MS) {
      skipRest = `skipped: a forward would take about ${(estimate / 1000).toFixed(0)} s`;
      cell.skipped = skipRest;
      continue;
    }
    const ids = idsFor(tokens, cfg.vocabSize);
    for (const trace of [false, true]) {
      const r = await timeRuns(app.page, ids, trace, REPS, CELL_BUDGET_MS, WARM_UP_LIMIT_MS);
      if (r.error) {
        skipRest = `failed: ${r.error}`;
        cell.skipped = skipRest;
        break;
      }
      if (r.samples.length === 0) {
        skipRest = `skipped: a forward at ${tokens} tokens took ${(r.warmUpMs / 1000).toFixed(0)} s`;
        cell.skipped = skipRest;
        break;
      }
      if (trace) {
        cell.trace = stats(r.samples);
        cell.longTasksPerRun = r.longTasks / r.samples.length;
      } else cell.bare = stats(r.samples);
    }
    if (cell.bare && cell.trace) cell.ratio = cell.trace.median / cell.bare.median;
    console.log(format(cell));
  }
  if (options.latency === false) return;
  // Intervention latency at the app's own text, through the UI.
  await waitForStoreIdle(app.page);
  const tokens = await app.page.evaluate(() => {
    const run = window.__attentionLab!.store!.getState().run!;
    return (run.tokens.decoder ?? run.tokens.encoder ?? []).length;
  });
  const latency: Latency = { model: label, backend, tokens, panels: [] };
  latencies.push(latency);
  if (
    skipRest &&
    cells.find((c) => c.model === label && c.backend === backend && c.tokens === 16)?.skipped
  ) {
    latency.skipped = skipRest;
    return;
  }
  // Fewer rounds for a model whose every run takes seconds.
  const slow =
    (cells.find((c) => c.model === label && c.backend === backend)?.trace?.median ?? 0) > 1000;
  const { samples, panels, missing, longTasks } = await interventionLatency(app.page, slow ? 2 : 3);
  latency.longTasksPerToggle = longTasks / samples.length;
  if (missing.length)
    console.log(`  (panels that did not repaint after a toggle: ${missing.join(', ')})`);
  latency.panels = panels;
  latency.stats = stats(samples);
  console.log(
    `${label} ${backend}: head toggle → ${panels.length} heatmaps repainted: median ${latency.stats.median.toFixed(0)} ms, p95 ${latency.stats.p95.toFixed(0)} ms (${tokens} tokens), long tasks/toggle ${latency.longTasksPerToggle.toFixed(1)}`,
  );
}

function ms(s?: Stats): string {
  return s ? `${s.median.toFixed(0)} / ${s.p95.toFixed(0)}` : '—';
}

function format(c: Cell): string {
  if (c.skipped) return `${c.model} ${c.backend} ${c.tokens}: ${c.skipped}`;
  return `${c.model} ${c.backend} ${c.tokens}: bare ${ms(c.bare)} ms, trace ${ms(c.trace)} ms, ratio ${c.ratio?.toFixed(2)}, long tasks/run ${c.longTasksPerRun?.toFixed(1)}`;
}

function table(cells: Cell[], latencies: Latency[], long: LongRow[]): string {
  const rows = [
    '| model | backend | tokens | bare forward median / p95 (ms) | traced forward median / p95 (ms) | trace / bare | long tasks per traced run | webgl vs cpu (traced) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const c of cells) {
    const cpu = cells.find(
      (x) => x.model === c.model && x.tokens === c.tokens && x.backend === 'cpu',
    );
    const speedup =
      c.backend === 'webgl' && c.trace && cpu?.trace
        ? `${(cpu.trace.median / c.trace.median).toFixed(2)}×`
        : '';
    rows.push(
      c.skipped
        ? `| ${c.model} | ${c.backend} | ${c.tokens} | ${c.skipped} | | | | |`
        : `| ${c.model} | ${c.backend} | ${c.tokens} | ${ms(c.bare)} | ${ms(c.trace)} | ${c.ratio!.toFixed(2)} | ${c.longTasksPerRun!.toFixed(1)} | ${speedup} |`,
    );
  }
  rows.push(
    '',
    '| model | backend | tokens | heatmaps | head toggle → repainted, median / p95 (ms) | long tasks per toggle |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  );
  for (const l of latencies) {
    rows.push(
      `| ${l.model} | ${l.backend} | ${l.tokens} | ${l.panels.length} | ${l.skipped ?? ms(l.stats)} | ${l.longTasksPerToggle?.toFixed(1) ?? ''} |`,
    );
  }
  rows.push('', ...longTable(long));
  return rows.join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  if (!process.argv.includes('--no-build'))
    execSync('npx vite build', { cwd: ROOT, stdio: 'ignore' });
  const backends = (option('--backends') ?? 'webgl,wasm,cpu').split(',') as BackendName[];
  // `--long-only`: just the 1,024-token rows, so the renderer peak is theirs alone.
  const longOnly = process.argv.includes('--long-only');
  const models = longOnly ? ['gpt2'] : (option('--models') ?? 'default,gpt2,smollm2').split(',');
  // The shipped language model when the build has it, else the e2e tests' random model. Not
  // the app's default (the 41k-parameter induction model), which is too small to measure.
  const shippedIndex = join(DIST, 'models', 'index.json');
  const shipped =
    existsSync(shippedIndex) &&
    (JSON.parse(readFileSync(shippedIndex, 'utf8')) as ModelIndex).models.some(
      (m) => m.name === SHIPPED_LM,
    );
  if (!shipped) await ensureTestModels();
  const defaultName = shipped ? SHIPPED_LM : TEST_MODEL;
  for (const [name, random] of Object.entries(RANDOM_MODELS)) {
    if (!models.includes(name) || existsSync(join(ROOT, 'tmp', random.dir, 'model.safetensors')))
      continue;
    console.log(`writing the random model ${random.dir} (once)…`);
    execSync(`npx tsx ${random.script}`, { cwd: ROOT, stdio: 'inherit' });
  }
  const cells: Cell[] = [];
  const latencies: Latency[] = [];
  const long: LongRow[] = [];
  const longBackends = new Set<BackendName>(['wasm', 'webgl']);
  const backendInfo: Record<string, unknown> = {};
  for (const backend of backends) {
    const app = await openApp({
      query: `?backend=${backend}`,
      mounts: {
        ...(shipped ? { '/models/': join(DIST, 'models') } : { '/models/': TEST_MODELS }),
        '/bench-models/': join(ROOT, 'tmp'),
      },
      ...(backend === 'webgpu' ? { chromiumArgs: WEBGPU_ARGS } : {}),
    });
    // tsx compiles with keepNames: functions sent to the page call its `__name` helper.
    await app.page.evaluate('globalThis.__name = (f) => f');
    await app.page.evaluate(instrument);
    try {
      const info = (await app.waitForEvent('backend')).detail as { backend: BackendName };
      backendInfo[backend] = info;
      if (info.backend !== backend) {
        console.log(`${backend}: not available here (${JSON.stringify(info)})`);
        continue;
      }
      const loaded = await app.waitForEvent('loaded');
      await waitForStoreIdle(app.page);
      const defaultInfo = (loaded.detail as { config: ModelInfo['config'] }).config;
      if (models.includes('default')) {
        await benchModel(
          app,
          backend,
          defaultName,
          { config: defaultInfo } as ModelInfo,
          cells,
          latencies,
        );
      }
      for (const [name, random] of Object.entries(RANDOM_MODELS)) {
        if (!models.includes(name)) continue;
        const id = await app.page.evaluate(
          (url) => window.__attentionLab!.client!.load({ kind: 'url', url }),
          `${app.server.url}bench-models/${random.dir}/`,
        );
        const loaded = await app.waitForEvent('loaded', id, 600_000);
        await waitForStoreIdle(app.page);
        const config = (loaded.detail as { config: ModelInfo['config'] }).config;
        if (!longOnly) {
          await benchModel(app, backend, random.dir, { config } as ModelInfo, cells, latencies, {
            ...(random.lengths ? { lengths: random.lengths } : {}),
            latency: random.latency,
          });
        }
        if (random.long && longBackends.has(backend) && !process.argv.includes('--no-long')) {
          const limitS = option('--long-limit');
          long.push(
            await benchLong(
              app.page,
              backend,
              random.dir,
              config.contextLength,
              limitS ? Number(limitS) * 1000 : undefined,
            ),
          );
        }
      }
    } finally {
      await app.close();
    }
  }
  const markdown = table(cells, latencies, long);
  console.log(`\n${markdown}\n\nbench took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  writeFileSync(
    join(ROOT, 'bench-results.json'),
    JSON.stringify(
      { date: new Date().toISOString(), backends: backendInfo, cells, latencies, long, markdown },
      null,
      2,
    ) + '\n',
  );
}

await main();
