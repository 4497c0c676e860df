/**
 * `pytorch_model.bin` through the restricted reader. The files in tests/fixtures/pytorch-bin/
 * were written by torch.save (scripts/make-pytorch-bin-fixtures.py); the malicious ones must be
 * refused with the global they name, before anything runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/model/checkpoint';
import { decoderLogits, disposeModel, type Model } from '../../src/model/model';
import { PytorchBinError, parsePytorchBin, pytorchBinLayout } from '../../src/model/pytorchBin';
import { parseSafetensors, readFloat32 } from '../../src/model/safetensors';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';
import { FIXTURES, maxAbsDiff, readExpected } from './helpers';

const bin = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, 'pytorch-bin', name)));

async function refusal(name: string): Promise<PytorchBinError> {
  const error = await parsePytorchBin(bin(name)).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PytorchBinError);
  return error as PytorchBinError;
}

describe('parsePytorchBin: layouts', () => {
  for (const file of ['views.bin', 'views-deflate.bin']) {
    it(`${file}: strided, offset, F16, BF16, F64, nested, parameter, scalar`, async () => {
      const f = await parsePytorchBin(bin(file));
      const values = (name: string) => Array.from(readFloat32(f, name));
      const shape = (name: string) => f.entries.get(name)?.shape;
      expect(values('a')).toEqual([0, 1, 2, 3, 4, 5]);
      expect(shape('a')).toEqual([2, 3]);
      expect(values('a_t')).toEqual([0, 3, 1, 4, 2, 5]);
      expect(shape('a_t')).toEqual([3, 2]);
      expect(values('a_row1')).toEqual([3, 4, 5]);
      expect(f.entries.get('half')?.dtype).toBe('F16');
      expect(values('half')).toEqual([0.5, -2, 65504]);
      expect(f.entries.get('bf16')?.dtype).toBe('BF16');
      // 1e30 in bfloat16 (8 bits of mantissa) is 1.0000000150474662e30 rounded to 7 bits
      expect(values('bf16').slice(0, 2)).toEqual([1.5, -3]);
      expect(values('bf16')[2] / 1e30).toBeCloseTo(1, 2);
      expect(f.entries.get('double')?.dtype).toBe('F32');
      expect(values('double')).toEqual([0.25, Math.fround(1e-3)]);
      expect(values('param')).toEqual([7]);
      expect(shape('scalar')).toEqual([]);
      expect(values('scalar')).toEqual([2.5]);
      expect(values('nested.w')).toEqual([1, 2]);
      expect([...f.entries.keys()]).not.toContain('epoch');
      expect(f.omitted).toEqual([]);
    });
  }

  it('gpt2-tiny-a.bin has the safetensors weights, views into the archive, ints omitted', async () => {
    const f = await parsePytorchBin(bin('gpt2-tiny-a.bin'));
    const st = parseSafetensors(
      new Uint8Array(readFileSync(join(FIXTURES, 'gpt2-tiny-a', 'model.safetensors'))),
    );
    expect(f.omitted).toEqual(['transformer.position_ids']);
    expect(f.data.byteLength).toBe(bin('gpt2-tiny-a.bin').byteLength); // no copy
    for (const [name, entry] of st.entries) {
      expect(f.entries.get(`transformer.${name}`)?.shape).toEqual(entry.shape);
      expect(readFloat32(f, `transformer.${name}`)).toEqual(readFloat32(st, name));
    }
    // the tied head shares the embedding's storage
    expect(f.entries.get('lm_head.weight')?.begin).toBe(
      f.entries.get('transformer.wte.weight')?.begin,
    );
  });
});

describe('parsePytorchBin: the gpt2-tiny-a model', () => {
  let model: Model;
  beforeAll(async () => {
    await useFastestNodeBackend();
    const f = await parsePytorchBin(bin('gpt2-tiny-a.bin'));
    const config = JSON.parse(readFileSync(join(FIXTURES, 'gpt2-tiny-a', 'config.json'), 'utf8'));
    model = loadCheckpoint(config, f);
  });
  afterAll(() => disposeModel(model));

  it('gives the reference logits', async () => {
    const c = readExpected('gpt2-tiny-a').cases[0];
    const logits = tf.tidy(() =>
      decoderLogits(model, tf.tensor2d([c.input_ids], [1, c.input_ids.length], 'int32'), 'last'),
    );
    const expected = (c.logits as number[][]).at(-1);
    expect(maxAbsDiff(Array.from(await logits.data()), expected)).toBeLessThan(1e-4);
    logits.dispose();
  });
});

describe('pytorchBinLayout: the first bytes', () => {
  it('gives the float32 bytes once data.pkl has arrived, long before the weights', async () => {
    const whole = bin('gpt2-tiny-a.bin');
    const f = await parsePytorchBin(whole);
    const float32Bytes = [...f.entries.values()].reduce(
      (n, e) => n + 4 * e.shape.reduce((a, b) => a * b, 1),
      0,
    );
    let firstKnown = -1;
    for (let n = 0; n <= whole.byteLength && firstKnown < 0; n += 16) {
      const layout = pytorchBinLayout(whole.subarray(0, n));
      if (layout !== null) {
        expect(layout.float32Bytes).toBe(float32Bytes);
        firstKnown = n;
      }
    }
    expect(firstKnown).toBeGreaterThan(0);
    expect(firstKnown).toBeLessThan(whole.byteLength / 20);
  });

  it('refuses a malicious pickle from its first bytes', () => {
    expect(() => pytorchBinLayout(bin('evil-os-system.bin').subarray(0, 200))).toThrow(
      /posix\.system/,
    );
    expect(() => pytorchBinLayout(bin('legacy.bin'))).toThrow(/before 1\.6/);
  });

  it('cannot tell for a deflated archive', () => {
    expect(pytorchBinLayout(bin('views-deflate.bin'))).toEqual({ float32Bytes: null });
  });
});

describe('parsePytorchBin: refusals', () => {
  it('refuses os.system, naming it, before anything runs', async () => {
    const e = await refusal('evil-os-system.bin');
    expect(e.code).toBe('forbidden');
    expect(e.message).toMatch(/posix\.system.*refused, nothing was run/);
  });

  it('refuses builtins.eval (protocol 4: STACK_GLOBAL)', async () => {
    const e = await refusal('evil-eval.bin');
    expect(e.code).toBe('forbidden');
    expect(e.message).toMatch(/builtins\.eval/);
  });

  it('refuses calling an allowed name that is not a function of tensors', async () => {
    const e = await refusal('evil-call-storage.bin');
    expect(e.code).toBe('forbidden');
    expect(e.message).toMatch(/calls torch\.FloatStorage/);
  });

  it('refuses the object-building opcode INST', async () => {
    const e = await refusal('evil-inst.bin');
    expect(e.code).toBe('unsupported');
    expect(e.message).toMatch(/opcode 0x69/);
  });

  it('explains the pre-1.6 format and files that are not archives', async () => {
    expect((await refusal('legacy.bin')).code).toBe('legacy-format');
    const bytes = new TextEncoder().encode('<html>Not found</html>');
    await expect(parsePytorchBin(bytes)).rejects.toThrow(/not a zip archive/);
  });

  it('refuses a truncated archive', async () => {
    const whole = bin('gpt2-tiny-a.bin');
    for (const keep of [whole.byteLength - 30, whole.byteLength / 2, 100]) {
      await expect(parsePytorchBin(whole.subarray(0, keep))).rejects.toThrow(PytorchBinError);
    }
  });
});
