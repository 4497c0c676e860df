/**
 * `npm run train -- NAME [--steps N] [--out DIR] [--trainer pytorch|tfjs]`: trains one shipped
 * model (or `all`) from its recipe in scripts/recipes/, from the recipe's seed, and writes
 * `public/models/NAME/` (config.json, model.safetensors in F16, lab-tokenizer.json, training.json)
 * and `public/models/index.json`. Recipes with PyTorch settings (the language models) train with
 * scripts/torch/train_lm.py unless `--trainer tfjs` asks for the project's tfjs trainer.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ModelIndex } from '../src/workers/protocol';
import { disposeModel } from '../src/model/model';
import { useFastestNodeBackend } from './lib/node-model';
import { DEFAULT_MODEL, RECIPES } from './recipes';
import { LAB_TOKENIZER_FILE } from '../src/model/tokenizer/forCheckpoint';
import { runRecipe, type Progress, type Recipe } from './recipes/recipe';
import { trainWithPyTorch } from './torch/trainWithPyTorch';

const MODELS = join(import.meta.dirname, '..', 'public', 'models');
const TRAINERS = ['pytorch', 'tfjs'] as const;
type Trainer = (typeof TRAINERS)[number];

function duration(seconds: number): string {
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function progressLine(name: string, p: Progress): string {
  return [
    `${name} step ${p.step}/${p.steps}`,
    `loss ${p.loss.toFixed(4)}`,
    ...(p.valLoss === undefined ? [] : [`val ${p.valLoss.toFixed(4)}`]),
    `lr ${p.learningRate.toExponential(2)}`,
    `${Math.round(p.tokensPerSecond)} tok/s`,
    `ETA ${duration(p.etaSeconds)}`,
  ].join('  ');
}

/** index.json lists every recipe whose folder holds a trained model. */
function writeIndex(dir: string): void {
  const models = RECIPES.filter((r) => existsSync(join(dir, r.name, 'model.safetensors'))).map(
    ({ name, title, description, howTo, example }) => ({
      name,
      title,
      description,
      ...(howTo ? { howTo } : {}),
      ...(example ? { example } : {}),
    }),
  );
  const index: ModelIndex = { default: DEFAULT_MODEL, models };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index, null, 2) + '\n');
}

async function train(
  recipe: Recipe,
  outDir: string,
  steps: number | undefined,
  trainer: Trainer,
): Promise<void> {
  const every = Math.max(1, Math.round((steps ?? recipe.schedule.steps) / 100));
  const result =
    recipe.pytorch && trainer === 'pytorch'
      ? await trainWithPyTorch(recipe, steps)
      : await runRecipe(recipe, {
          ...(steps === undefined ? {} : { steps }),
          onProgress: (p) => {
            if (p.step % every === 0 || p.valLoss !== undefined || p.step === p.steps)
              console.log(progressLine(recipe.name, p));
          },
        });
  disposeModel(result.model);
  const dir = join(outDir, recipe.name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(result.config, null, 2) + '\n');
  writeFileSync(join(dir, 'model.safetensors'), result.safetensors);
  if (result.tokenizer !== undefined)
    writeFileSync(join(dir, LAB_TOKENIZER_FILE), JSON.stringify(result.tokenizer) + '\n');
  writeFileSync(join(dir, 'training.json'), JSON.stringify(result.training, null, 2) + '\n');
  console.log(
    `${recipe.name}: wrote ${dir} in ${duration(result.training.wall_time_s)}; metrics ${JSON.stringify(result.training.metrics)}`,
  );
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      steps: { type: 'string' },
      out: { type: 'string' },
      trainer: { type: 'string', default: 'pytorch' },
    },
  });
  const names = RECIPES.map((r) => r.name);
  const wanted = positionals[0];
  if (!wanted || (wanted !== 'all' && !names.includes(wanted))) {
    console.error(
      `usage: npm run train -- NAME [--steps N] [--out DIR] [--trainer pytorch|tfjs]\n  NAME: ${names.join(', ')} or all`,
    );
    process.exit(2);
  }
  const steps = values.steps === undefined ? undefined : Number(values.steps);
  if (steps !== undefined && !(Number.isInteger(steps) && steps > 0)) {
    console.error(`--steps must be a positive integer, got ${values.steps}`);
    process.exit(2);
  }
  const trainer = values.trainer as Trainer;
  if (!TRAINERS.includes(trainer)) {
    console.error(`--trainer must be ${TRAINERS.join(' or ')}, got ${values.trainer}`);
    process.exit(2);
  }
  const outDir = values.out ?? MODELS;
  const backend = await useFastestNodeBackend();
  console.log(`backend: ${backend}`);
  for (const recipe of RECIPES.filter((r) => wanted === 'all' || r.name === wanted)) {
    await train(recipe, outDir, steps, trainer);
  }
  writeIndex(outDir);
}

await main();
