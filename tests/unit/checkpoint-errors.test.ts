/**
 * Loading checkpoints: each bad config or file gives its own error (class, code where the class
 * has one, a message that names the key or tensor), nothing stays allocated after a failed load,
 * and the project's own format round-trips through saveCheckpoint.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, loadCheckpoint, saveCheckpoint } from '../../src/model/checkpoint';
import { ConfigError } from '../../src/model/config';
import { disposeModel, runForward } from '../../src/model/model';
import {
  parseSafetensors,
  readFloat32,
  SafetensorsError,
  writeSafetensors,
} from '../../src/model/safetensors';
import { toNested } from '../../src/model/trace';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';
import { maxAbsDiff } from './helpers';
import { labConfig, randomWeights, type FloatTensors } from './reference/random-model';

beforeAll(async () => {
  await useFastestNodeBackend();
});

const CONFIG = labConfig({ n_layer: 3 });
const WEIGHTS = randomWeights(CONFIG, 21);
const BYTES = writeSafetensors(WEIGHTS);
const ENC_DEC = labConfig({ architecture: 'encoder-decoder', n_encoder_layer: 2 });

function without(weights: FloatTensors, name: string): FloatTensors {
  const out = { ...weights };
  delete out[name];
  return out;
}

function reshaped(weights: FloatTensors, name: string, shape: number[]): FloatTensors {
  const n = shape.reduce((a, b) => a * b, 1);
  return { ...weights, [name]: { shape, data: new Float32Array(n) } };
}

/** The error a load throws; the live tensor count must not change. */
function loadError(config: unknown, bytes: Uint8Array): Error & { code?: string } {
  const before = tf.memory().numTensors;
  try {
    disposeModel(loadCheckpoint(config, bytes));
  } catch (e) {
    expect(tf.memory().numTensors, 'tensors left after the failed load').toBe(before);
    return e as Error & { code?: string };
  }
  throw new Error('the checkpoint was accepted');
}

type ErrorClass = typeof ConfigError | typeof SafetensorsError | typeof CheckpointError;

describe('bad checkpoints', () => {
  const cases: [string, () => [unknown, Uint8Array], ErrorClass, string | undefined, RegExp][] = [
    [
      'a tensor missing (in the last layer, after others were uploaded)',
      () => [CONFIG, writeSafetensors(without(WEIGHTS, 'h.2.mlp.c_proj.bias'))],
      CheckpointError,
      'missing-tensor',
      /lacks tensor "h\.2\.mlp\.c_proj\.bias"/,
    ],
    [
      'the final norm missing',
      () => [CONFIG, writeSafetensors(without(WEIGHTS, 'ln_f.weight'))],
      CheckpointError,
      'missing-tensor',
      /"ln_f\.weight"/,
    ],
    [
      'cross-attention missing from an encoder–decoder file',
      () => {
        const w = randomWeights(ENC_DEC, 1);
        return [ENC_DEC, writeSafetensors(without(w, 'decoder.h.1.crossattention.q_attn.weight'))];
      },
      CheckpointError,
      'missing-tensor',
      /"decoder\.h\.1\.crossattention\.q_attn\.weight"/,
    ],
    [
      'an embedding narrower than n_embd',
      () => [CONFIG, writeSafetensors(reshaped(WEIGHTS, 'wte.weight', [29, 12]))],
      CheckpointError,
      'shape-mismatch',
      /"wte\.weight" has shape \[29, 12\] but config\.json implies \[29, 16\]/,
    ],
    [
      'a fused projection of the wrong width (late in the file)',
      () => [CONFIG, writeSafetensors(reshaped(WEIGHTS, 'h.2.attn.c_attn.weight', [16, 32]))],
      CheckpointError,
      'shape-mismatch',
      /"h\.2\.attn\.c_attn\.weight" has shape \[16, 32\] but config\.json implies \[16, 48\]/,
    ],
    [
      'a Conv1D weight stored transposed',
      () => [CONFIG, writeSafetensors(reshaped(WEIGHTS, 'h.0.mlp.c_fc.weight', [40, 16]))],
      CheckpointError,
      'shape-mismatch',
      /"h\.0\.mlp\.c_fc\.weight" has shape \[40, 16\].*\[16, 40\]/,
    ],
    [
      'fewer learned positions than n_positions',
      () => [{ ...CONFIG, n_positions: 64 }, BYTES],
      CheckpointError,
      'shape-mismatch',
      /"wpe\.weight" has shape \[12, 16\] but config\.json implies \[64, 16\]/,
    ],
    [
      'a truncated file',
      () => [CONFIG, BYTES.slice(0, BYTES.length - 100)],
      SafetensorsError,
      'offsets',
      /lie outside the \d+-byte data section \(truncated file\?\)/,
    ],
    [
      'a file cut inside its header',
      () => [CONFIG, BYTES.slice(0, 200)],
      SafetensorsError,
      'header-length',
      /truncated or corrupt/,
    ],
    [
      'an unsupported model_type',
      () => [{ ...CONFIG, model_type: 'bert' }, BYTES],
      ConfigError,
      undefined,
      /unsupported model_type "bert".*gpt2, marian and attention-lab/,
    ],
    [
      'no model_type',
      () => [{ ...CONFIG, model_type: undefined }, BYTES],
      ConfigError,
      undefined,
      /unsupported model_type undefined/,
    ],
    [
      'a config that is null',
      () => [null, BYTES],
      ConfigError,
      undefined,
      /must hold a JSON object/,
    ],
    [
      'a config that is an array',
      () => [[CONFIG], BYTES],
      ConfigError,
      undefined,
      /must hold a JSON object/,
    ],
    [
      'a config that is a string',
      () => ['gpt2', BYTES],
      ConfigError,
      undefined,
      /must hold a JSON object/,
    ],
    [
      'a required key missing',
      () => [{ ...CONFIG, n_embd: undefined }, BYTES],
      ConfigError,
      undefined,
      /"n_embd" is missing/,
    ],
    [
      'a size that is not a positive integer',
      () => [{ ...CONFIG, n_layer: 1.5 }, BYTES],
      ConfigError,
      undefined,
      /"n_layer" must be a positive integer, got 1\.5/,
    ],
    [
      'heads that do not divide the width',
      () => [{ ...CONFIG, n_head: 5 }, BYTES],
      ConfigError,
      undefined,
      /hidden size 16 is not divisible by 5 heads/,
    ],
    [
      'an unknown norm placement',
      () => [{ ...CONFIG, norm_placement: 'sandwich' }, BYTES],
      ConfigError,
      undefined,
      /"norm_placement" must be one of pre, post, got "sandwich"/,
    ],
    [
      'an unknown activation',
      () => [{ ...CONFIG, activation_function: 'tanh' }, BYTES],
      ConfigError,
      undefined,
      /unsupported activation function "tanh"/,
    ],
    [
      'an encoder–decoder config without n_encoder_layer',
      () => [{ ...ENC_DEC, n_encoder_layer: undefined }, BYTES],
      ConfigError,
      undefined,
      /"n_encoder_layer" is missing/,
    ],
  ];
  for (const [name, make, errorClass, code, message] of cases) {
    it(`${name}: ${errorClass.name}${code ? ` ${code}` : ''}`, () => {
      const [config, bytes] = make();
      const err = loadError(JSON.parse(JSON.stringify(config) ?? 'null'), bytes);
      expect(err).toBeInstanceOf(errorClass);
      expect(err.name).toBe(errorClass.name);
      if (code) expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
    });
  }
});

describe('round trip of the own format', () => {
  it('saveCheckpoint (F32) gives back every tensor bit for bit and the same forward', async () => {
    const model = loadCheckpoint(CONFIG, BYTES);
    try {
      const saved = saveCheckpoint(model, 'F32');
      expect(saved.config).toEqual(CONFIG);
      const file = parseSafetensors(saved.safetensors);
      expect([...file.entries.keys()]).toEqual(Object.keys(WEIGHTS).sort());
      for (const [name, t] of Object.entries(WEIGHTS)) {
        expect(file.entries.get(name)!.shape, name).toEqual(t.shape);
        expect(readFloat32(file, name), name).toEqual(t.data);
      }
      const again = loadCheckpoint(saved.config, saved.safetensors);
      try {
        const ids = [3, 1, 4, 1, 5];
        const a = await runForward(model, { ids });
        const b = await runForward(again, { ids });
        expect(toNested(b.decoder!.output!.logits!)).toEqual(toNested(a.decoder!.output!.logits!));
      } finally {
        disposeModel(again);
      }
    } finally {
      disposeModel(model);
    }
  });

  it('F16 halves the file and keeps the forward within half precision', async () => {
    const model = loadCheckpoint(CONFIG, BYTES);
    try {
      const saved = saveCheckpoint(model, 'F16');
      expect(saved.safetensors.length).toBeLessThan(0.6 * BYTES.length);
      const half = loadCheckpoint(saved.config, saved.safetensors);
      try {
        const ids = [3, 1, 4, 1, 5];
        const a = toNested((await runForward(model, { ids })).decoder!.output!.logits!);
        const b = toNested((await runForward(half, { ids })).decoder!.output!.logits!);
        const err = maxAbsDiff(b, a);
        expect(err).toBeGreaterThan(0);
        expect(err).toBeLessThan(0.05);
      } finally {
        disposeModel(half);
      }
    } finally {
      disposeModel(model);
    }
  });
});
