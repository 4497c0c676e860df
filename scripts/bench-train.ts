/**
 * Training speed of the tfjs trainer (src/model/train.ts) in tokens per second, on one fixed
 * GPT-2-style model (d = 192, 4 layers, 6 heads, gelu_new, tied head over 2,048 tokens, context
 * 128) and random tokens, batch 8 × 128, median of `STEPS` steps after two untimed ones. It only
 * uses APIs that older commits have too, so the same file measures a worktree of any of them
 * (docs/performance.md, training).
 *
 *   npx tsx scripts/bench-train.ts [STEPS]
 */
import './lib/gradients';
import { loadavg } from 'node:os';
import { useFastestNodeBackend } from './lib/node-model';
import { parseConfig } from '../src/model/config';
import { initModel } from '../src/model/init';
import { Rng } from '../src/model/random';
import { languageModelLoss, sampleWindows, Trainer } from '../src/model/train';

const [batch, length, steps] = [8, 128, Number(process.argv[2] ?? 8)];
const backend = await useFastestNodeBackend();
const config = parseConfig({
  model_type: 'attention-lab',
  architecture: 'decoder-only',
  vocab_size: 2048,
  n_embd: 192,
  n_head: 6,
  n_layer: 4,
  n_positions: length,
  activation_function: 'gelu_new',
  eos_token_id: 0,
});
const model = initModel(config, 1);
const trainer = new Trainer(model, {
  steps: 1000,
  warmupSteps: 10,
  peakLearningRate: 1e-3,
  finalLearningRate: 1e-4,
  clipNorm: 1,
});
const rng = new Rng(2);
const tokens = Int32Array.from({ length: 100_000 }, () => rng.int(config.vocabSize));
const step = () =>
  trainer.trainStep(() => languageModelLoss(model, sampleWindows(tokens, batch, length, rng)));
for (let i = 0; i < 2; i++) step();
const times: number[] = [];
for (let i = 0; i < steps; i++) {
  const t0 = performance.now();
  step();
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
const load = loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');
console.log(
  `${backend}: median step ${median.toFixed(0)} ms, ${((batch * length) / (median / 1000)).toFixed(0)} tokens/s ` +
    `(batch ${batch} × ${length}, ${steps} steps); load average ${load}`,
);
