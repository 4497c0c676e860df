/**
 * `npm run bench:threads`: wasm on one thread against several, in the built app on GPT-2 small's
 * shape (docs/performance.md, wasm threads). The same build is served plain (tfjs-wasm's
 * single-threaded build) and cross-origin isolated (its threaded build) with `?threads=N` for
 * each count asked for, one Chromium each; the pages take turns, round by round, so a change of
 * the machine's load falls on all of them. Per round and page: a bare forward at each length and
 * a generated token (a cached step) at context 16, timed on the page from the request to `done`.
 * Prints the medians and the load average. The random model is the bench's (tmp/, written once)
 * unless `--model` names another folder. A thread count written `1i` runs one thread isolated
 * (the threaded build on one thread: what the build costs apart from the second thread).
 *
 *   npx tsx scripts/bench-threads.ts [--no-build] [--threads 1,1i,2] [--rounds 7]
 *                                    [--lengths 16,64] [--model DIR]
 */
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { CROSS_ORIGIN_ISOLATION, openApp, ROOT, type App } from './lib/harness';

const GENERATE_CONTEXT = 16;

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/** In the page: resolves with the ms from `start()` to the `done` of the request it returns. */
function timeRequest(page: Page, what: { kind: 'run'; ids: number[] } | { kind: 'generate' }) {
  return page.evaluate(async (what) => {
    const lab = window.__attentionLab!;
    const plain = { causalMask: true, usePositions: true, ablatedHeads: [] };
    const t0 = performance.now();
    const id =
      what.kind === 'run'
        ? lab.client!.run({ ids: what.ids }, plain, {
            captureQKV: false,
            topK: 5,
            logits: 'last',
            trace: false,
          })
        : lab.client!.generate(plain, { captureQKV: false, topK: 5 });
    for (;;) {
      const e = lab.events.find((x) => (x.event === 'done' || x.event === 'error') && x.id === id);
      if (e?.event === 'error') throw new Error(JSON.stringify(e.detail));
      if (e) return performance.now() - t0;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }, what);
}

/** A traced run of `GENERATE_CONTEXT` tokens, then an untimed step (it fills the cache). */
async function prepareGeneration(page: Page): Promise<void> {
  await page.evaluate(async (n) => {
    const lab = window.__attentionLab!;
    const plain = { causalMask: true, usePositions: true, ablatedHeads: [] };
    const done = (id: number) =>
      new Promise<void>((resolve, reject) => {
        const poll = () => {
          const e = lab.events.find(
            (x) => (x.event === 'done' || x.event === 'error') && x.id === id,
          );
          if (e?.event === 'error') reject(new Error(JSON.stringify(e.detail)));
          else if (e) resolve();
          else setTimeout(poll, 5);
        };
        poll();
      });
    const ids = Array.from({ length: n }, (_, i) => (i * 7919) % 50000);
    await done(lab.client!.run({ ids }, plain, { captureQKV: false, topK: 5, logits: 'last' }));
    await done(lab.client!.generate(plain, { captureQKV: false, topK: 5 }));
  }, GENERATE_CONTEXT);
}

async function main(): Promise<void> {
  if (!process.argv.includes('--no-build'))
    execSync('npx vite build', { cwd: ROOT, stdio: 'ignore' });
  const model = resolve(option('--model', join(ROOT, 'tmp', 'gpt2-small-random')));
  if (!existsSync(join(model, 'model.safetensors')))
    execSync('npx tsx scripts/make-random-gpt2.ts', { cwd: ROOT, stdio: 'inherit' });
  const counts = option('--threads', '1,2').split(',');
  const rounds = Number(option('--rounds', '7'));
  const lengths = option('--lengths', '16,64').split(',').map(Number);
  console.log(`load average at the start: ${load()}`);

  // Plain for one thread (what a host without the headers gives), isolated for the others.
  const pages: { name: string; app: App; samples: Record<string, number[]> }[] = [];
  for (const count of counts) {
    const threads = parseInt(count, 10);
    const isolated = threads > 1 || count.endsWith('i');
    const app = await openApp({
      query: `?backend=wasm${isolated ? `&threads=${threads}` : ''}`,
      mounts: { '/bench-models/': dirname(model) },
      ...(isolated ? { headers: CROSS_ORIGIN_ISOLATION } : {}),
    });
    await app.page.evaluate('globalThis.__name = (f) => f'); // tsx's keepNames helper
    const info = (await app.waitForEvent('backend')).detail as {
      threads?: number;
      ownGemm?: boolean;
    };
    if (info.threads !== threads)
      throw new Error(`asked for ${threads} threads, got ${info.threads}`);
    await app.waitForEvent('loaded');
    const id = await app.page.evaluate(
      (url) => window.__attentionLab!.client!.load({ kind: 'url', url }),
      `${app.server.url}bench-models/${basename(model)}/`,
    );
    await app.waitForEvent('loaded', id, 600_000);
    const name =
      `${threads} thread${threads > 1 ? 's' : ''}${isolated ? ', isolated' : ''}` +
      (info.ownGemm ? '' : ', XNNPACK');
    pages.push({ name, app, samples: {} });
  }
  try {
    const ids = (n: number) => Array.from({ length: n }, (_, i) => (i * 7919) % 50000);
    // Untimed: each forward once (XNNPACK packs weights on first use), and the cache filled.
    for (const p of pages) {
      for (const n of lengths) await timeRequest(p.app.page, { kind: 'run', ids: ids(n) });
      await prepareGeneration(p.app.page);
    }
    for (let round = 0; round < rounds; round++) {
      for (const p of round % 2 ? [...pages].reverse() : pages) {
        for (const n of lengths) {
          const ms = await timeRequest(p.app.page, { kind: 'run', ids: ids(n) });
          (p.samples[`bare forward, ${n} tokens`] ??= []).push(ms);
        }
        // A fresh cached step each round: the run before drops the session, so fill it again.
        await prepareGeneration(p.app.page);
        const ms = await timeRequest(p.app.page, { kind: 'generate' });
        (p.samples[`generated token, context ${GENERATE_CONTEXT}`] ??= []).push(ms);
      }
      console.log(`round ${round + 1}/${rounds}, load ${load()}`);
    }
  } finally {
    for (const p of pages) await p.app.close();
  }
  const measures = Object.keys(pages[0].samples);
  console.log(`\n| measure | ${pages.map((p) => p.name).join(' | ')} |`);
  console.log(`| --- | ${pages.map(() => '---:').join(' | ')} |`);
  for (const m of measures) {
    const cells = pages.map((p) => {
      const s = p.samples[m];
      return `${median(s).toFixed(0)} [${Math.min(...s).toFixed(0)}–${Math.max(...s).toFixed(0)}]`;
    });
    console.log(`| ${m} | ${cells.join(' | ')} |`);
  }
  console.log(
    `\nmedian [min–max] ms of ${rounds} interleaved rounds; load average at the end: ${load()}`,
  );
}

await main();
