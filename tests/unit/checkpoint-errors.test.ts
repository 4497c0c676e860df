/**
 * Loading checkpoints: each bad config or file gives its own error (class, code where the class
 * has one, a message that names the key or tensor), nothing stays allocated after a failed load,
 * and the project's own format round-trips through saveCheckpoint.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, loadCheckpoint } from '../../src/model/checkpoint';
import { saveCheckpoint } from '../../src/model/saveCheckpoint';
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
import { MARIAN_SPM_CONFIG, randomMarianSafetensors } from './marianCheckpoint';
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

function withValue(weights: FloatTensors, name: string, i: number, v: number): FloatTensors {
  const data = weights[name].data.slice();
  data[i] = v;
  return { ...weights, [name]: { shape: weights[name].shape, data } };
}

/** The file with one header entry's fields replaced (the header keeps its length). */
function withHeaderEntry(bytes: Uint8Array, name: string, fields: object): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const length = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  header[name] = { ...header[name], ...fields };
  const text = new TextEncoder().encode(JSON.stringify(header).padEnd(length, ' '));
  expect(text.length).toBe(length);
  const out = bytes.slice();
  out.set(text, 8);
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
      () => [{ ...CONFIG, model_type: 'mistral' }, BYTES],
      ConfigError,
      undefined,
      /unsupported model_type "mistral".*GPT2LMHeadModel, MarianMTModel, LlamaForCausalLM.*attention-lab/,
    ],
    [
      'no model_type',
      () => [{ ...CONFIG, model_type: undefined }, BYTES],
      ConfigError,
      undefined,
      /unsupported model_type \(config\.json has none\)/,
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
      /"n_layer" must be a positive integer, but it is 1\.5/,
    ],
    [
      'n_layer smaller than the file (its last layer would be dropped)',
      () => [{ ...CONFIG, n_layer: 2 }, BYTES],
      CheckpointError,
      'unexpected-tensor',
      /holds tensor "h\.2\.[a-z_.12]+", which the model config\.json describes does not use \(2 layers\)/,
    ],
    [
      'a weight no config accounts for',
      () => [CONFIG, writeSafetensors({ ...WEIGHTS, 'score.weight': WEIGHTS['ln_f.bias'] })],
      CheckpointError,
      'unexpected-tensor',
      /"score\.weight"/,
    ],
    [
      'a NaN in the token embedding',
      () => [CONFIG, writeSafetensors(withValue(WEIGHTS, 'wte.weight', 37, NaN))],
      CheckpointError,
      'not-finite',
      /tensor "wte\.weight" holds NaN at element 37 of 464 \(1 of its values is NaN, ±Infinity or beyond ±1e\+8\): the weights are corrupt/,
    ],
    [
      'an infinity in a late layer of an F16 file',
      () => [CONFIG, writeSafetensors(withValue(WEIGHTS, 'h.2.ln_2.bias', 3, -1e6), 'F16')],
      CheckpointError,
      'not-finite',
      /tensor "h\.2\.ln_2\.bias" holds -Infinity at element 3 of 16/,
    ],
    [
      'a weight of 1e20 (a flipped exponent bit), with a NaN after it',
      () => {
        const w = withValue(
          withValue(WEIGHTS, 'h.1.mlp.c_fc.weight', 5, -1e20),
          'h.1.mlp.c_fc.weight',
          9,
          NaN,
        );
        return [CONFIG, writeSafetensors(w)];
      },
      CheckpointError,
      'implausible-value',
      /tensor "h\.1\.mlp\.c_fc\.weight" holds -1\.00e\+20 at element 5 of 640 \(2 of its values are/,
    ],
    [
      "a header length shortened into the header's padding",
      () => {
        const bytes = BYTES.slice();
        const view = new DataView(bytes.buffer);
        const length = view.getBigUint64(0, true);
        // The writer pads the header with spaces to align the data; cut the field into them.
        expect(bytes[8 + Number(length) - 1]).toBe(0x20);
        view.setBigUint64(0, length - 1n, true);
        return [CONFIG, bytes];
      },
      SafetensorsError,
      'trailing-bytes',
      /1 more byte after it/,
    ],
    [
      'weights stored as integers',
      () => {
        const ids = { dtype: 'I32', shape: [29, 16] };
        return [CONFIG, withHeaderEntry(BYTES, 'wte.weight', ids)];
      },
      SafetensorsError,
      'unsupported-dtype',
      /tensor "wte\.weight" is I32, but weights must be F32, F16, BF16, F64/,
    ],
    [
      'layer_norm_epsilon of 0',
      () => [{ ...CONFIG, layer_norm_epsilon: 0 }, BYTES],
      ConfigError,
      'bad-value',
      /"layer_norm_epsilon" must be positive, but it is 0/,
    ],
    [
      'a string n_inner',
      () => [{ ...CONFIG, n_inner: '40' }, BYTES],
      ConfigError,
      'bad-value',
      /"n_inner" must be a number, but it is "40"/,
    ],
    [
      'scale_embedding "yes"',
      () => [{ ...CONFIG, scale_embedding: 'yes' }, BYTES],
      ConfigError,
      'bad-value',
      /"scale_embedding" must be true or false, but it is "yes"/,
    ],
    [
      'a string decoder_start_token_id',
      () => [{ ...ENC_DEC, decoder_start_token_id: '0' }, BYTES],
      ConfigError,
      'bad-value',
      /"decoder_start_token_id" must be a token id, but it is "0"/,
    ],
    [
      'an eos_token_id outside the vocabulary',
      () => [{ ...CONFIG, eos_token_id: 29 }, BYTES],
      ConfigError,
      'bad-value',
      /"eos_token_id" is 29, outside the vocabulary \[0, 29\)/,
    ],
    [
      'a Marian pad_token_id outside the vocabulary',
      () => [{ ...MARIAN_SPM_CONFIG, pad_token_id: -1, decoder_start_token_id: 0 }, BYTES],
      ConfigError,
      'bad-value',
      /"pad_token_id" is -1, outside the vocabulary \[0, 1222\)/,
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
      expect(err.message).not.toMatch(/undefined/);
    });
  }
});

describe('what a checkpoint may hold besides the weights', () => {
  it("buffers (integer tensors, GPT-2's causal masks) and Marian's tied copies are skipped", () => {
    const mask = { shape: [1, 1, 12, 12], data: new Float32Array(144) };
    const extra = writeSafetensors({
      ...WEIGHTS,
      'h.0.attn.bias': mask,
      'h.1.attn.masked_bias': mask,
    });
    // An I64 buffer (a `position_ids` of BERT-style files) appended to the header and the data.
    const file = parseSafetensors(extra);
    const withIds = appendTensor(extra, 'position_ids', 'I64', [12]);
    expect(parseSafetensors(withIds).entries.size).toBe(file.entries.size + 1);
    disposeModel(loadCheckpoint(CONFIG, withIds));

    const marian = parseSafetensors(randomMarianSafetensors(MARIAN_SPM_CONFIG));
    const tensors: FloatTensors = {};
    for (const name of marian.entries.keys()) {
      tensors[name] = { shape: marian.entries.get(name)!.shape, data: readFloat32(marian, name) };
    }
    const shared = tensors['model.shared.weight'];
    const positions = { shape: [128, 32], data: new Float32Array(128 * 32) };
    const copies = writeSafetensors({
      ...tensors,
      'lm_head.weight': shared,
      'model.decoder.embed_tokens.weight': shared,
      'model.encoder.embed_positions.weight': positions,
      'model.decoder.embed_positions.weight': positions,
    });
    disposeModel(loadCheckpoint(MARIAN_SPM_CONFIG, copies));
  });

  it('a GPT-2 config carrying eos 50256 with a small vocabulary loads, without an eos id', () => {
    const gpt2 = { ...GPT2_CONFIG, eos_token_id: 50256, bos_token_id: 50256 };
    const model = loadCheckpoint(gpt2, writeSafetensors(gpt2Weights()));
    try {
      expect(model.config.eosTokenId).toBeNull();
    } finally {
      disposeModel(model);
    }
  });
});

const GPT2_CONFIG = {
  model_type: 'gpt2',
  vocab_size: 29,
  n_embd: 16,
  n_head: 4,
  n_layer: 3,
  n_positions: 12,
};

/** WEIGHTS under GPT-2's names: the own format's, with GPT-2's 4·d feed-forward width. */
function gpt2Weights(): FloatTensors {
  return randomWeights(labConfig({ n_layer: 3, n_inner: 64 }), 3);
}

/** A file with one more (zero-filled) tensor after the others. */
function appendTensor(bytes: Uint8Array, name: string, dtype: string, shape: number[]): Uint8Array {
  const file = parseSafetensors(bytes);
  const header: Record<string, unknown> = { __metadata__: file.metadata };
  for (const [n, e] of file.entries)
    header[n] = { dtype: e.dtype, shape: e.shape, data_offsets: [e.begin, e.end] };
  const size = shape.reduce((a, b) => a * b, 1) * 8;
  header[name] = { dtype, shape, data_offsets: [file.data.length, file.data.length + size] };
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + file.data.length + size);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(file.data, 8 + text.length);
  return out;
}

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
