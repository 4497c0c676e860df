/**
 * The interpretability tools (src/model/analysis/) against their float64 references
 * (tests/unit/reference/naiveInterp.ts) on random checkpoints, on the cpu and wasm backends:
 * the logit lens at the last point is the model's output; the attributions of all components
 * plus the direct path sum to the logit; patching a run with itself changes nothing; every
 * patched run equals a whole reference forward with that one value swapped in; no tensor leaks.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logitAttribution, type LogitAttribution } from '../../src/model/analysis/attribution';
import { logitLens } from '../../src/model/analysis/logitLens';
import {
  answerAndFoil,
  disposePatchingRuns,
  patchHeads,
  patchingRuns,
  patchResidual,
  restoredFraction,
} from '../../src/model/analysis/patching';
import {
  NO_INTERVENTIONS,
  residualPoints,
  unsupportedReason,
  type StreamInterventions,
} from '../../src/model/analysis/stream';
import { runForward } from '../../src/model/forward';
import { parseConfig } from '../../src/model/config';
import { decoderLogits, disposeModel } from '../../src/model/model';
import { readModelDir, useFastestNodeBackend } from '../../scripts/lib/node-model';
import { FIXTURES, readExpected } from './helpers';
import {
  attributionSum,
  referenceAttribution,
  referenceLens,
  referencePatching,
} from './reference/naiveInterp';
import { labConfig, randomModel, SeededRandom, type RandomModel } from './reference/random-model';

const CONFIGS = {
  'GPT-2-style (pre-norm, learned positions, tied, biases)': labConfig(),
  'attention-only, no biases, untied head': labConfig({
    attention_only: true,
    attention_bias: false,
    tie_word_embeddings: false,
  }),
  'post-norm, no final norm, sinusoidal': labConfig({
    norm_placement: 'post',
    final_layer_norm: false,
    position_embedding: 'sinusoidal',
  }),
};

const IDS = new SeededRandom(7).ids(9, 0, 29);
/** The same prompt with one token changed (position 3): the corrupted run. */
const CORRUPTED = IDS.map((id, t) => (t === 3 ? (id + 11) % 29 : id));

const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(b));

/** An attribution's tensors read back (and disposed). */
async function readAttribution(a: LogitAttribution) {
  const [heads, mlps, scalars] = await Promise.all([
    a.heads.array(),
    a.mlps.array(),
    Promise.all([a.token, a.embedding, a.biases, a.logit].map((t) => t.data())),
  ]);
  tf.dispose(Object.values(a));
  const [id, embedding, biases, logit] = scalars.map((d) => d[0]);
  return { heads, mlps, id, embedding, biases, logit };
}

async function useBackend(name: string) {
  if (name === 'wasm') expect(await useFastestNodeBackend()).toBe('wasm');
  else await tf.setBackend(name);
}

afterAll(async () => {
  await useFastestNodeBackend();
});

for (const backend of ['cpu', 'wasm']) {
  for (const [name, config] of Object.entries(CONFIGS)) {
    describe(`${name} on ${backend}`, () => {
      let m: RandomModel;
      beforeAll(async () => {
        await useBackend(backend);
        m = randomModel(config, 3);
        return () => disposeModel(m.model);
      });
      const prenorm = config.norm_placement === 'pre';

      it('reads the lens at the last point as the model’s own output, and every point as the reference does', async () => {
        const k = 5;
        const position = IDS.length - 2;
        const lens = logitLens(m.model, IDS, position, k);
        const [top1, top1Prob, topIds, topProbs] = await Promise.all(
          [lens.top1, lens.top1Prob, lens.topIds, lens.topProbs].map((t) => t.data()),
        );
        tf.dispose(Object.values(lens));
        const points = residualPoints(m.model.config).length;
        expect(lens.top1.shape).toEqual([points, IDS.length]);
        const logits = tf.tidy(() =>
          tf.softmax(decoderLogits(m.model, tf.tensor2d([IDS], undefined, 'int32'))).arraySync(),
        ) as number[][][];
        const last = (points - 1) * IDS.length;
        IDS.forEach((_, t) => {
          const probs = logits[0][t];
          expect(top1[last + t]).toBe(probs.indexOf(Math.max(...probs)));
          expect(Math.abs(top1Prob[last + t] - Math.max(...probs))).toBeLessThan(1e-6);
        });
        const expected = referenceLens(m.config, m.weights, IDS);
        expected.forEach((rows, p) =>
          rows.forEach((probs, t) => {
            const best = Math.max(...probs);
            expect(Math.abs(top1Prob[p * IDS.length + t] - best)).toBeLessThan(1e-5);
            expect(Math.abs(probs[top1[p * IDS.length + t]] - best)).toBeLessThan(1e-5);
          }),
        );
        expected.forEach((rows, p) => {
          const sorted = [...rows[position]].sort((a, b) => b - a);
          for (let i = 0; i < k; i++) {
            expect(Math.abs(topProbs[p * k + i] - sorted[i])).toBeLessThan(1e-5);
            expect(Math.abs(rows[position][topIds[p * k + i]] - sorted[i])).toBeLessThan(1e-5);
          }
        });
      });

      // Post-norm models have no direct logit attribution (unsupportedReason, tested below).
      if (prenorm)
        it('attributes the logit to embeddings, heads, MLPs and biases that sum to it, as the reference does', async () => {
          for (const [position, token] of [
            [IDS.length - 1, null],
            [4, 17],
          ] as const) {
            const { heads, mlps, id, embedding, biases, logit } = await readAttribution(
              logitAttribution(m.model, IDS, position, token),
            );
            if (token !== null) expect(id).toBe(token);
            const got = { heads, mlps, embedding, biases };
            expect(relative(attributionSum(got), logit)).toBeLessThan(1e-4);
            const want = referenceAttribution(m.config, m.weights, IDS, position, id);
            // The decomposition itself, in float64: exact up to rounding.
            expect(relative(attributionSum(want), want.logit)).toBeLessThan(1e-9);
            expect(relative(logit, want.logit)).toBeLessThan(1e-5);
            const scale = Math.max(1, Math.abs(want.logit));
            const parts = [
              ...heads.flat().map((v, i) => [v, want.heads.flat()[i]]),
              ...mlps.map((v, i) => [v, want.mlps[i]]),
              [embedding, want.embedding],
              [biases, want.biases],
            ];
            for (const [g, w] of parts) expect(Math.abs(g - w) / scale).toBeLessThan(1e-5);
            expect(mlps.length).toBe(config.attention_only ? 0 : m.model.config.nLayers);
          }
        });

      it('patches each head and each residual position as the reference does', async () => {
        const runs = patchingRuns(m.model, IDS, CORRUPTED);
        const { answer, foil } = answerAndFoil(
          await runs.cleanLogits.data(),
          await runs.corruptedLogits.data(),
        );
        expect(foil).not.toBe(answer);
        const layers = m.model.config.nLayers;
        const heads: number[][] = [];
        const residual: number[][] = [];
        for (let layer = 0; layer < layers; layer++) {
          const h = patchHeads(m.model, runs, layer, answer, foil);
          const r = patchResidual(m.model, runs, layer, [...IDS.keys()], answer, foil);
          heads.push(Array.from(await h.data()));
          residual.push(Array.from(await r.data()));
          tf.dispose([h, r]);
        }
        disposePatchingRuns(runs);
        const want = referencePatching(m.config, m.weights, IDS, CORRUPTED, answer, foil);
        const scale = Math.max(1, Math.abs(want.clean), Math.abs(want.corrupted));
        heads
          .flat()
          .forEach((v, i) => expect(Math.abs(v - want.heads.flat()[i]) / scale).toBeLessThan(1e-5));
        residual
          .flat()
          .forEach((v, i) =>
            expect(Math.abs(v - want.residual.flat()[i]) / scale).toBeLessThan(1e-5),
          );
        // The embeddings differ only at position 3: patching it there restores everything,
        // and patching before it (identical in both runs, causal mask) restores nothing.
        const fraction = (v: number) => restoredFraction(v, want.clean, want.corrupted);
        expect(Math.abs(fraction(residual[0][3]) - 1)).toBeLessThan(1e-4);
        for (let layer = 0; layer < layers; layer++) {
          for (let t = 0; t < 3; t++)
            expect(Math.abs(fraction(residual[layer][t]))).toBeLessThan(1e-4);
        }
      });

      it('changes nothing when a run is patched with itself: every cell restores exactly 1', async () => {
        const runs = patchingRuns(m.model, IDS, IDS);
        const cleanLogits = await runs.cleanLogits.data();
        const { answer, foil } = answerAndFoil(cleanLogits, await runs.corruptedLogits.data());
        const clean = cleanLogits[answer] - cleanLogits[foil];
        for (let layer = 0; layer < m.model.config.nLayers; layer++) {
          const h = patchHeads(m.model, runs, layer, answer, foil);
          const r = patchResidual(m.model, runs, layer, [...IDS.keys()], answer, foil);
          for (const v of [...(await h.data()), ...(await r.data())]) {
            expect(Math.abs(v - clean)).toBeLessThan(1e-5);
            expect(restoredFraction(v, clean, clean)).toBe(1);
          }
          tf.dispose([h, r]);
        }
        disposePatchingRuns(runs);
      });

      it('leaks no tensors', () => {
        const before = tf.memory().numTensors;
        for (let i = 0; i < 2; i++) {
          tf.dispose(Object.values(logitLens(m.model, IDS, 2, 3)));
          if (prenorm) tf.dispose(Object.values(logitAttribution(m.model, IDS, 2, null)));
          const runs = patchingRuns(m.model, IDS, CORRUPTED);
          tf.dispose([
            patchHeads(m.model, runs, 1, 0, 1),
            patchResidual(m.model, runs, 0, [1, 2], 0, 1),
          ]);
          disposePatchingRuns(runs);
        }
        expect(tf.memory().numTensors).toBe(before);
      });
    });
  }
}

/**
 * The tools under the sidebar's interventions (an ablated head, the causal mask off, positions
 * removed): each against the float64 reference run under the same interventions, the lens's
 * last point against the traced forward's logits under them, and the math checks.
 */
const INTERVENED: Record<string, Partial<StreamInterventions>> = {
  'head 1.2 ablated': { ablatedHeads: [{ stack: 'decoder', layer: 1, head: 2 }] },
  'causal mask off, head 0.0 ablated': {
    causalMask: false,
    ablatedHeads: [{ stack: 'decoder', layer: 0, head: 0 }],
  },
  'positions removed': { usePositions: false },
};

for (const backend of ['cpu', 'wasm']) {
  describe(`under interventions on ${backend}`, () => {
    let m: RandomModel;
    beforeAll(async () => {
      await useBackend(backend);
      m = randomModel(labConfig(), 3);
      return () => disposeModel(m.model);
    });

    for (const [name, partial] of Object.entries(INTERVENED)) {
      const iv: StreamInterventions = { ...NO_INTERVENTIONS, ...partial };

      it(`${name}: the lens reads the intervened run, its last point the traced forward's logits`, async () => {
        const lens = logitLens(m.model, IDS, IDS.length - 1, 1, iv);
        const [top1, top1Prob] = await Promise.all([lens.top1.data(), lens.top1Prob.data()]);
        tf.dispose(Object.values(lens));
        const trace = await runForward(m.model, { ids: IDS }, iv);
        const logits = trace.decoder!.output!.logits!;
        const vocab = logits.shape[1];
        const last = (residualPoints(m.model.config).length - 1) * IDS.length;
        const expected = referenceLens(m.config, m.weights, IDS, iv);
        const unmodified = referenceLens(m.config, m.weights, IDS);
        // The intervention changes the output: a lens that ignored it would fail below.
        const moved = expected
          .at(-1)!
          .some((probs, t) => probs.some((p, v) => Math.abs(p - unmodified.at(-1)![t][v]) > 1e-3));
        expect(moved).toBe(true);
        IDS.forEach((_, t) => {
          const probs = tf.tidy(
            () =>
              tf
                .softmax(tf.tensor1d(logits.data.slice(t * vocab, (t + 1) * vocab)))
                .arraySync() as number[],
          );
          expect(top1[last + t]).toBe(probs.indexOf(Math.max(...probs)));
          expect(Math.abs(top1Prob[last + t] - Math.max(...probs))).toBeLessThan(1e-6);
        });
        expected.forEach((rows, p) =>
          rows.forEach((probs, t) =>
            expect(Math.abs(top1Prob[p * IDS.length + t] - Math.max(...probs))).toBeLessThan(1e-5),
          ),
        );
      });

      it(`${name}: the attributions sum to the intervened logit, as the reference's do`, async () => {
        const position = IDS.length - 1;
        const { heads, mlps, id, embedding, biases, logit } = await readAttribution(
          logitAttribution(m.model, IDS, position, null, iv),
        );
        expect(relative(attributionSum({ heads, mlps, embedding, biases }), logit)).toBeLessThan(
          1e-4,
        );
        const want = referenceAttribution(m.config, m.weights, IDS, position, id, iv);
        expect(relative(logit, want.logit)).toBeLessThan(1e-5);
        const scale = Math.max(1, Math.abs(want.logit));
        heads
          .flat()
          .forEach((v, i) => expect(Math.abs(v - want.heads.flat()[i]) / scale).toBeLessThan(1e-5));
        mlps.forEach((v, i) => expect(Math.abs(v - want.mlps[i]) / scale).toBeLessThan(1e-5));
        expect(Math.abs(embedding - want.embedding) / scale).toBeLessThan(1e-5);
        // An ablated head writes nothing.
        for (const h of iv.ablatedHeads) expect(heads[h.layer][h.head]).toBe(0);
      });

      it(`${name}: patching matches the reference under it, and a run patched with itself restores 1`, async () => {
        const runs = patchingRuns(m.model, IDS, CORRUPTED, iv);
        const { answer, foil } = answerAndFoil(
          await runs.cleanLogits.data(),
          await runs.corruptedLogits.data(),
        );
        const want = referencePatching(m.config, m.weights, IDS, CORRUPTED, answer, foil, iv);
        const scale = Math.max(1, Math.abs(want.clean), Math.abs(want.corrupted));
        for (let layer = 0; layer < m.model.config.nLayers; layer++) {
          const h = patchHeads(m.model, runs, layer, answer, foil);
          const r = patchResidual(m.model, runs, layer, [...IDS.keys()], answer, foil);
          const [hv, rv] = [await h.data(), await r.data()];
          tf.dispose([h, r]);
          hv.forEach((v, i) =>
            expect(Math.abs(v - want.heads[layer][i]) / scale).toBeLessThan(1e-5),
          );
          rv.forEach((v, i) =>
            expect(Math.abs(v - want.residual[layer][i]) / scale).toBeLessThan(1e-5),
          );
        }
        disposePatchingRuns(runs);
        const self = patchingRuns(m.model, IDS, IDS, iv);
        const logits = await self.cleanLogits.data();
        const clean = logits[answer] - logits[foil];
        for (let layer = 0; layer < m.model.config.nLayers; layer++) {
          const h = patchHeads(m.model, self, layer, answer, foil);
          for (const v of await h.data()) expect(restoredFraction(v, clean, clean)).toBe(1);
          expect(Math.abs((await h.data())[0] - clean)).toBeLessThan(1e-5);
          h.dispose();
        }
        disposePatchingRuns(self);
      });
    }
  });
}

/**
 * The other decoder families, on the Hugging Face checkpoints of tests/fixtures: RMSNorm, RoPE,
 * grouped-query attention and SwiGLU (Llama, Qwen2), local attention and unscaled scores
 * (GPT-Neo). The model's logits there come from transformers itself (expected.json).
 */
for (const name of ['llama-tiny-a', 'qwen2-tiny-a', 'gptneo-tiny-a', 'gpt2-tiny-a']) {
  describe(`${name} (wasm)`, () => {
    const c = readExpected(name).cases[1];
    const ids = c.input_ids.slice(0, 11);
    const logits = (c.logits as number[][])[ids.length - 1];
    let model: ReturnType<typeof readModelDir>;
    beforeAll(async () => {
      await useBackend('wasm');
      model = readModelDir(join(FIXTURES, name));
      return () => disposeModel(model);
    });

    it('reads the lens’s last point as transformers’ output and the attribution sums to its logit', async () => {
      const lens = logitLens(model, ids, ids.length - 1, 1);
      const [top1Prob, topIds] = await Promise.all([lens.topProbs.data(), lens.topIds.data()]);
      tf.dispose(Object.values(lens));
      const last = top1Prob.length - 1;
      const expected = tf.tidy(() => tf.softmax(tf.tensor1d(logits)).arraySync() as number[]);
      expect(Math.abs(top1Prob[last] - Math.max(...expected))).toBeLessThan(1e-4);
      expect(Math.abs(expected[topIds[last]] - Math.max(...expected))).toBeLessThan(1e-4);
      const {
        heads,
        mlps,
        id: token,
        embedding,
        biases,
        logit,
      } = await readAttribution(logitAttribution(model, ids, ids.length - 1, null));
      expect(token).toBe(topIds[last]);
      expect(relative(logit, logits[token])).toBeLessThan(1e-4);
      expect(relative(attributionSum({ heads, mlps, embedding, biases }), logit)).toBeLessThan(
        1e-4,
      );
    });

    it('restores 1 patching a run into itself, and at the one position where two runs differ', async () => {
      const corrupted = ids.map((id, t) => (t === 4 ? (id + 5) % model.config.vocabSize : id));
      for (const [other, position, want] of [
        [ids, 2, 1],
        [corrupted, 4, 1],
        [corrupted, 3, 0],
      ] as const) {
        const runs = patchingRuns(model, ids, other);
        const clean = await runs.cleanLogits.data();
        const bad = await runs.corruptedLogits.data();
        const { answer, foil } = answerAndFoil(clean, bad);
        const r = patchResidual(model, runs, 0, [position], answer, foil);
        const patched = (await r.data())[0];
        tf.dispose(r);
        disposePatchingRuns(runs);
        const fraction = restoredFraction(
          patched,
          clean[answer] - clean[foil],
          bad[answer] - bad[foil],
        );
        expect(Math.abs(fraction - want)).toBeLessThan(1e-4);
      }
    });
  });
}

describe('which models the tools read', () => {
  it('reads decoder-only models and names why not for the others', () => {
    const cfg = (o: Record<string, unknown>) => parseConfig(labConfig(o));
    for (const tool of ['logit-lens', 'logit-attribution', 'activation-patching'] as const) {
      expect(unsupportedReason(cfg({}), tool)).toBeNull();
      expect(unsupportedReason(cfg({ architecture: 'encoder-only' }), tool)).toMatch(
        /encoder-only/,
      );
    }
    const post = cfg({ norm_placement: 'post', final_layer_norm: false });
    expect(unsupportedReason(post, 'logit-attribution')).toMatch(/post-norm/);
    expect(unsupportedReason(post, 'logit-lens')).toBeNull();
    expect(unsupportedReason(post, 'activation-patching')).toBeNull();
  });

  it('defines the restored fraction where nothing differs, and picks a foil other than the answer', () => {
    expect(restoredFraction(2, 2, 2)).toBe(1);
    expect(restoredFraction(1, 3, -1)).toBe(0.5);
    expect(answerAndFoil([0, 5, 1], [0, 5, 4])).toEqual({ answer: 1, foil: 2 });
    expect(answerAndFoil([0, 5, 1], [9, 5, 4])).toEqual({ answer: 1, foil: 0 });
  });
});
