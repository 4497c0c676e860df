/**
 * A float16 checkpoint on wasm keeps its weight matrices as 16-bit codes (src/model/halfWeights.ts,
 * widened by our kernels as they read them) and predicts what the cpu backend, which keeps them
 * float32, predicts from the same file; on wasm threads (COOP/COEP) the same bits as on one.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import type { DebugEvent } from '../../src/client/debug';
import { LAB_TOKENIZER_FILE } from '../../src/model/tokenizer/forCheckpoint';
import type { Prediction } from '../../src/workers/protocol';
import {
  CROSS_ORIGIN_ISOLATION,
  ensureTestModels,
  openApp,
  ROOT,
  TEST_MODEL,
  TEST_MODEL_CONFIG,
  TEST_MODELS,
} from '../../scripts/lib/harness';

/** The e2e model (harness.ts) written in float16, as the app's only model. */
const HALF_MODELS = join(ROOT, 'tmp', 'e2e-models-half');

beforeAll(async () => {
  await ensureTestModels();
  const dir = join(HALF_MODELS, TEST_MODEL);
  mkdirSync(dir, { recursive: true });
  for (const file of ['config.json', LAB_TOKENIZER_FILE])
    copyFileSync(join(TEST_MODELS, TEST_MODEL, file), join(dir, file));
  copyFileSync(join(TEST_MODELS, 'index.json'), join(HALF_MODELS, 'index.json'));
  const { useFastestNodeBackend } = await import('../../scripts/lib/node-model');
  const { randomCheckpoint } = await import('../../scripts/make-random-gpt2');
  await useFastestNodeBackend();
  const { safetensors } = randomCheckpoint(TEST_MODEL_CONFIG, 'F16', 7);
  writeFileSync(join(dir, 'model.safetensors'), safetensors);
}, 120_000);

/** The app's first run of its default text on the float16 model: predictions and what it kept. */
async function firstRun(query: string, headers?: Record<string, string>) {
  const app = await openApp({ query, mounts: { '/models/': HALF_MODELS }, headers });
  try {
    await app.waitForEvent('loaded');
    const run = (await app.events()).findLast(
      (e: DebugEvent) => e.event === 'request' && (e.detail as { type: string }).type === 'run',
    )!;
    const done = await app.waitForEvent('done', run.id);
    const info = await app.page.evaluate(() => window.__attentionLab!.store!.getState().modelInfo);
    return {
      predictions: (done.detail as { predictions: Prediction[] }).predictions,
      halfWeights: info?.halfWeights,
      weightBytes: info?.weightBytes,
      errors: app.errors.filter((e) => !/404/.test(e)),
    };
  } finally {
    await app.close();
  }
}

it('keeps a float16 checkpoint in 16 bits on wasm and predicts what float32 predicts', async () => {
  const wasm = await firstRun('?backend=wasm');
  const cpu = await firstRun('?backend=cpu');
  const threads = await firstRun('?backend=wasm', CROSS_ORIGIN_ISOLATION);
  // Every linear layer (6 a block) and the embedding's one chunk; cpu keeps float32.
  const blocks = TEST_MODEL_CONFIG.n_layer;
  expect(wasm.halfWeights).toBe(6 * blocks + 1);
  expect(cpu.halfWeights).toBe(0);
  expect(wasm.weightBytes).toBeLessThan(0.6 * cpu.weightBytes!);
  expect(wasm.predictions.map((p) => p.id)).toEqual(cpu.predictions.map((p) => p.id));
  wasm.predictions.forEach((p, i) => expect(p.prob).toBeCloseTo(cpu.predictions[i].prob, 5));
  expect(threads.halfWeights).toBe(wasm.halfWeights);
  expect(threads.predictions).toEqual(wasm.predictions); // parts summed in one thread's order
  expect([...wasm.errors, ...cpu.errors, ...threads.errors]).toEqual([]);
}, 240_000);
