/**
 * The correctness oracle: tiny random checkpoints and what Hugging Face transformers (float64)
 * computes for them. Every key of every case must match to 1e-4, through the library API on
 * each backend Node has (wasm and cpu; webgl and webgpu: tests/e2e/families-backends.test.ts),
 * and through the `trace` command.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeModel, runForward, type Model } from '../../src/model/model';
import { traceToReferenceJson } from '../../src/model/traceJson';
import { readModelDir, useNodeBackend } from '../../scripts/lib/node-model';
import { FIXTURES, maxAbsDiff, readExpected, type FixtureCase } from './helpers';

const TOLERANCE = 1e-4;
const ROOT = join(import.meta.dirname, '..', '..');

const FIXTURE_NAMES = [
  'gpt2-tiny-a',
  'marian-tiny-a',
  'llama-tiny-a',
  'qwen2-tiny-a',
  'bert-tiny-a',
  'distilbert-tiny-a',
  'gptneo-tiny-a',
];

/** The forward input of a case: decoder ids and source for Marian, token types for BERT. */
function inputOf(c: FixtureCase) {
  if (c.decoder_input_ids !== undefined)
    return { ids: c.decoder_input_ids, sourceIds: c.input_ids };
  const types = c.token_type_ids as number[] | undefined;
  return types ? { ids: c.input_ids, tokenTypeIds: types } : { ids: c.input_ids };
}

/** Every backend the unit tests register (setup.ts); the first also runs the trace command. */
const BACKENDS = ['wasm', 'cpu'] as const;

for (const name of FIXTURE_NAMES) {
  for (const backend of BACKENDS) {
    const full = backend === BACKENDS[0];
    describe(`fixture ${name} on ${backend}`, () => {
      let model: Model;
      const expected = readExpected(name);
      beforeAll(async () => {
        await useNodeBackend(backend);
        model = readModelDir(join(FIXTURES, name));
      });
      afterAll(() => disposeModel(model));

      expected.cases.forEach((c, i) => {
        it(`case ${i}: library API reproduces every key within ${TOLERANCE}`, async () => {
          expect(tf.getBackend()).toBe(backend);
          const trace = await runForward(model, inputOf(c));
          const ours = traceToReferenceJson(trace, model.config);
          const perKey = Object.fromEntries(
            Object.keys(c).map((k) => [k, maxAbsDiff(ours[k], c[k], k)]),
          );
          console.log(
            `${name} case ${i} on ${backend} max abs error per key (API):`,
            JSON.stringify(perKey),
          );
          expect(Object.keys(ours).sort()).toEqual(Object.keys(c).sort());
          for (const [k, err] of Object.entries(perKey))
            expect(err, k).toBeLessThanOrEqual(TOLERANCE);
        });

        if (!full) return;
        it(`case ${i}: the trace command prints the same layout within ${TOLERANCE}`, () => {
          const encDec = c.decoder_input_ids !== undefined;
          const args = [
            'tsx',
            'scripts/trace.ts',
            '--model',
            join(FIXTURES, name),
            '--ids',
            c.input_ids.join(','),
          ];
          if (encDec) args.push('--decoder-ids', c.decoder_input_ids!.join(','));
          const types = c.token_type_ids as number[] | undefined;
          if (types) args.push('--token-type-ids', types.join(','));
          const out = JSON.parse(execFileSync('npx', args, { cwd: ROOT, encoding: 'utf8' }));
          const err = maxAbsDiff(out, c);
          console.log(`${name} case ${i} max abs error (trace command): ${err.toExponential(2)}`);
          expect(err).toBeLessThanOrEqual(TOLERANCE);
        });
      });

      if (full) {
        it('leaks no tensors over 50 forwards', async () => {
          const input = inputOf(expected.cases[0]);
          await runForward(model, input, { captureQKV: true });
          const before = tf.memory().numTensors;
          for (let i = 0; i < 50; i++)
            await runForward(model, input, { captureQKV: i % 2 === 0, padTo: 16 });
          expect(tf.memory().numTensors).toBe(before);
        });
      }
    });
  }
}
