/**
 * Trains a recipe that names PyTorch settings with scripts/torch/train_lm.py. The recipe stays
 * the one owner of the model: this writes its config and token ids for the Python script, passes
 * the schedule as arguments, then measures the recipe's metrics on the saved F16 file with the
 * project's own forward, as `runRecipe` does, so training.json describes what ships.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '../../src/model/checkpoint';
import { parameterCount } from '../../src/model/params';
import { configToJson } from '../../src/model/saveCheckpoint';
import { scheduleFor, type Prepared, type Recipe, type RunResult } from '../recipes/recipe';

const SCRIPT = join(import.meta.dirname, 'train_lm.py');
/** The trainer's own forward on the shipped file, which tests/unit/shipped.test.ts checks ours against. */
export const expectedLogitsPath = (name: string) =>
  join(import.meta.dirname, '..', '..', 'tests', 'fixtures', 'shipped', `${name}.expected.json`);

interface Curve {
  steps: number[];
  train_loss: number[];
  val_loss: number[];
  best_step: number;
  wall_time_s: number;
  trainer: string;
}

const u16 = (ids: Int32Array) => Buffer.from(Uint16Array.from(ids).buffer);

export async function trainWithPyTorch(recipe: Recipe, steps?: number): Promise<RunResult> {
  const settings = recipe.pytorch;
  if (!settings) throw new Error(`${recipe.name} has no PyTorch settings`);
  const prepared = recipe.prepare();
  if (!prepared.tokenIds) throw new Error(`${recipe.name} gives no token ids to train on`);
  const work = mkdtempSync(join(tmpdir(), `${recipe.name}-`));
  try {
    const config = configToJson(prepared.config);
    writeFileSync(join(work, 'config.json'), JSON.stringify(config));
    writeFileSync(join(work, 'train.u16'), u16(prepared.tokenIds.train));
    writeFileSync(join(work, 'validation.u16'), u16(prepared.tokenIds.validation));
    let from: string | undefined;
    settings.phases.forEach((phase, i) => {
      const s =
        i === 0 ? scheduleFor({ ...recipe, schedule: phase.schedule }, steps) : phase.schedule;
      const out = join(work, `phase${i}`);
      const args = [
        SCRIPT,
        ...['--config', join(work, 'config.json'), '--data', work, '--out', out],
        ...['--curve', join(out, 'curve.json'), '--expected', expectedLogitsPath(recipe.name)],
        ...['--steps', s.steps, '--warmup', s.warmupSteps, '--lr', s.peakLearningRate],
        ...['--final-lr', s.finalLearningRate, '--clip', s.clipNorm, '--seed', phase.seed],
        ...['--eval-every', recipe.evalEvery, '--keep', phase.keep],
        ...[
          '--batch',
          phase.batch ?? settings.batch,
          '--dropout',
          phase.dropout ?? settings.dropout,
        ],
        ...['--weight-decay', phase.weightDecay ?? settings.weightDecay],
        ...['--repeat-rows', phase.repeatedRows, '--random-repeat-rows', phase.randomRepeatedRows],
        ...['--filled-repeat-rows', phase.filledRepeatedRows ?? 0],
        ...(from ? ['--finetune-from', from] : []),
      ].map(String);
      const run = spawnSync('python3', args, { stdio: 'inherit' });
      if (run.error || run.status !== 0)
        throw new Error(
          `python3 ${args.join(' ')} failed (${run.error?.message ?? `exit ${run.status}`}): it needs PyTorch and NumPy (pip install torch numpy), or train with --trainer tfjs`,
        );
      from = join(out, 'model.safetensors');
    });
    return await collectRun(recipe, prepared, work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Reads what train_lm.py left in `work` (model.safetensors, curve.json) and measures the
 * recipe's metrics on the saved file. Exported for a run started by hand with the same arguments.
 */
export async function collectRun(
  recipe: Recipe,
  prepared: Prepared,
  work: string,
): Promise<RunResult> {
  const phases = recipe.pytorch!.phases;
  const config = configToJson(prepared.config);
  const curves = phases.map(
    (_, i) => JSON.parse(readFileSync(join(work, `phase${i}`, 'curve.json'), 'utf8')) as Curve,
  );
  const last = join(work, `phase${phases.length - 1}`, 'model.safetensors');
  const safetensors = new Uint8Array(readFileSync(last));
  const model = loadCheckpoint(config, safetensors);
  const metrics = {
    ...(await prepared.metrics(model)),
    best_step_by_phase: curves.map((c) => c.best_step),
  };
  // One curve over all phases: each phase's steps continue the previous phase's count.
  let offset = 0;
  const steps: number[] = [];
  for (const c of curves) {
    steps.push(...c.steps.map((s) => s + offset));
    offset += c.steps.at(-1)!;
  }
  return {
    config,
    safetensors,
    ...(prepared.tokenizer ? { tokenizer: prepared.tokenizer.toJSON() } : {}),
    model,
    training: {
      name: recipe.name,
      steps,
      train_loss: curves.flatMap((c) => c.train_loss),
      val_loss: curves.flatMap((c) => c.val_loss),
      metrics,
      recipe: {
        schedule: recipe.schedule,
        eval_every: recipe.evalEvery,
        data: { ...prepared.data, pytorch: recipe.pytorch },
        config,
        parameters: parameterCount(model.params),
      },
      seed: recipe.seed,
      wall_time_s: curves.reduce((a, c) => a + c.wall_time_s, 0),
      backend: curves[0].trainer,
    },
  };
}
