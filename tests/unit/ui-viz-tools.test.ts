/**
 * The view tools' pure logic: the neuron view's terms (issue 14), attention × ‖value‖, the
 * charts' shared domains and hover readout, and the URL/store flags they add.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { runForward } from '../../src/model/forward';
import { disposeModel } from '../../src/model/model';
import type { AttentionTrace, Matrix } from '../../src/model/trace';
import { readModelDir, useFastestNodeBackend } from '../../scripts/lib/node-model';
import { FIXTURES } from './helpers';
import { nearestPoint, sharedYDomain, yDomainOf } from '../../src/ui/lib/chartData';
import { neuronTerms, topDimensions } from '../../src/ui/lib/neuronView';
import { stepFormula, stepQuery } from '../../src/ui/lib/stepThrough';
import { DEFAULT_VIEW, parseView, serializeView } from '../../src/ui/lib/urlState';
import { lineWeights, weightByValueNorms } from '../../src/ui/lib/valueWeighted';
import { wantsQKV } from '../../src/ui/store/inputs';
import { headMatrix } from '../../src/ui/store/selectors';

const m = (shape: number[], values: number[]): Matrix => ({
  shape,
  data: Float32Array.from(values),
});

/**
 * One head over 2 tokens, d/h = 4. q₁ = [1, −2, 0.5, 3], k₀ = [2, 1, −4, 0.5]:
 * products [2, −2, −2, 1.5], sum −0.5, score −0.5/√4 = −0.25.
 */
function pair(): AttentionTrace {
  const q = [0, 0, 0, 0, 1, -2, 0.5, 3];
  const k = [2, 1, -4, 0.5, 1, 1, 1, 1];
  // Scores as the model would trace them: q_i·k_j / 2.
  const dot = (i: number, j: number) =>
    [0, 1, 2, 3].reduce((s, c) => s + q[i * 4 + c] * k[j * 4 + c], 0) / 2;
  const probs1 = [Math.exp(dot(1, 0)), Math.exp(dot(1, 1))];
  const z = probs1[0] + probs1[1];
  return {
    kind: 'self',
    causal: true,
    scores: m([1, 2, 2], [dot(0, 0), dot(0, 1), dot(1, 0), dot(1, 1)]),
    probs: m([1, 2, 2], [1, 0, probs1[0] / z, probs1[1] / z]),
    mask: m([2, 2], [1, 0, 1, 1]),
    headGate: Float32Array.of(1),
    q: m([1, 2, 4], q),
    k: m([1, 2, 4], k),
    v: m([1, 2, 4], [1, 0, 0, 0, 0, 1, 0, 0]),
    valueNorms: m([1, 2], [3, 0.5]),
  };
}

describe('neuron view', () => {
  it('splits a score into per-dimension products that sum to it, worked by hand', () => {
    const t = neuronTerms(pair(), 0, 1, 0);
    expect(Array.from(t.products)).toEqual([2, -2, -2, 1.5]);
    expect(t.sum).toBe(-0.5);
    expect(t.scale).toBe(0.5);
    expect(t.scaled).toBe(-0.25);
    expect(t.traced).toBeCloseTo(-0.25, 7);
  });

  it("agrees with the step-through's scaled score for every key", () => {
    const att = pair();
    const step = stepQuery(att, 0, 1);
    for (const j of [0, 1])
      expect(neuronTerms(att, 0, 1, j).scaled).toBeCloseTo(step.scaled[j], 12);
  });

  it('shows GPT-Neo’s unscaled scores as the model computes them: the sum itself is the traced score', async () => {
    await useFastestNodeBackend();
    const model = readModelDir(join(FIXTURES, 'gptneo-tiny-a'));
    expect(model.config.unscaledScores).toBe(true);
    const ids = [5, 17, 3, 42, 8, 11];
    const trace = await runForward(model, { ids }, { captureQKV: true });
    disposeModel(model);
    expect(tf.memory().numTensors).toBe(0);
    const layers = trace.decoder!.layers;
    let worst = 0;
    let scaledAway = 0;
    for (const layer of layers) {
      const att = layer.attentions[0];
      for (let h = 0; h < model.config.nHeads; h++) {
        const step = stepQuery(att, h, ids.length - 1, true);
        expect(step.scale).toBe(1);
        expect(stepFormula(step, 0)).not.toContain('sqrt');
        expect(step.scoreError).toBeLessThan(1e-4);
        for (let j = 0; j < ids.length; j++) {
          const t = neuronTerms(att, h, ids.length - 1, j, true);
          expect(t.scaled).toBe(t.sum);
          worst = Math.max(worst, Math.abs(t.scaled - t.traced) / Math.max(1, Math.abs(t.traced)));
          // What the view showed before: the sum × 1/√(d/h), which is not this model's score.
          const old = neuronTerms(att, h, ids.length - 1, j);
          scaledAway = Math.max(scaledAway, Math.abs(old.scaled - old.traced));
        }
      }
    }
    expect(worst).toBeLessThan(1e-5);
    expect(scaledAway).toBeGreaterThan(1e-3);
  });

  it('names the dimensions with the largest products, and needs q and k', () => {
    expect(topDimensions([2, -2.5, -2, 1.5], 2)).toEqual([1, 0]);
    const att = pair();
    delete att.q;
    expect(() => neuronTerms(att, 0, 0, 0)).toThrow(/captureQKV/);
  });
});

describe('attention × ‖value‖', () => {
  it('weights each key column by its value norm', () => {
    expect(Array.from(weightByValueNorms([0.5, 0.5, 0.25, 0.75], 2, [2, 4]))).toEqual([
      1, 2, 0.5, 3,
    ]);
  });

  it('is what the heatmap draws in weighted mode, and nothing without traced norms', () => {
    const att = pair();
    const axis = { queries: [], keys: [] };
    const weighted = headMatrix(att, axis, 0, 'weighted', false)!;
    const p = att.probs.data;
    expect(Array.from(weighted.values)).toEqual(
      Array.from(Float32Array.of(p[0] * 3, p[1] * 0.5, p[2] * 3, p[3] * 0.5)),
    );
    expect(headMatrix(att, axis, 0, 'probs', false)!.values).toEqual(att.probs.data);
    delete att.valueNorms;
    expect(headMatrix(att, axis, 0, 'weighted', false)).toBeNull();
    expect(lineWeights(att, 'weighted')).toBeNull();
  });

  it("scales the head view's lines to each head's largest product", () => {
    const att = pair();
    const w = lineWeights(att, 'weighted')!;
    const p = att.probs.data;
    const raw = [p[0] * 3, p[1] * 0.5, p[2] * 3, p[3] * 0.5];
    const max = Math.max(...raw);
    raw.forEach((x, i) => expect(w[i]).toBeCloseTo(x / max, 6));
    expect(lineWeights(att, 'probs')).toBe(att.probs.data);
  });

  it('is a mode the URL keeps, and runs capture q/k/v (with the norms) for it', () => {
    const hash = serializeView({ ...DEFAULT_VIEW, mode: 'weighted' });
    expect(hash).toContain('values=weighted');
    expect(parseView(`#${hash}`).mode).toBe('weighted');
    expect(parseView('#values=bogus').mode).toBe('probs');
    expect(wantsQKV({ tab: 'heads', mode: 'weighted' })).toBe(true);
    expect(wantsQKV({ tab: 'step', mode: 'probs' })).toBe(true);
    expect(wantsQKV({ tab: 'heads', mode: 'probs' })).toBe(false);
  });
});

describe('charts', () => {
  const a = [
    {
      name: 'pre',
      points: [
        [0, 2],
        [1, 5],
      ] as [number, number][],
    },
  ];
  const b = [
    {
      name: 'post',
      points: [
        [0, 1],
        [1, 12],
      ] as [number, number][],
    },
  ];

  it('gives side-by-side charts of one quantity the domain of both', () => {
    expect(yDomainOf(a)).toEqual([0, 5]);
    expect(yDomainOf(b)).toEqual([0, 12]);
    expect(sharedYDomain([a, b])).toEqual([0, 12]);
    expect(sharedYDomain([a, b], true)).toEqual([1, 12]);
  });

  it('leaves out what an axis cannot draw and widens a single value', () => {
    const odd = [
      {
        name: 'x',
        points: [
          [0, -1],
          [1, NaN],
          [2, 4],
        ] as [number, number][],
      },
    ];
    expect(yDomainOf(odd, true)).toEqual([4, 40]);
    expect(yDomainOf(odd)).toEqual([-1, 4]);
    expect(yDomainOf([], true)).toEqual([1, 10]);
    expect(yDomainOf([{ name: 'one', points: [[0, 3]] }])).toEqual([0, 4]);
    expect(yDomainOf([{ name: 'flat', points: [[0, 0]] }])).toEqual([0, 1]);
  });

  it('reads out the point nearest the pointer on screen', () => {
    const px = (x: number) => x * 100;
    const py = (y: number) => 200 - y * 10;
    // (1, 5) is at (100, 150); (1, 12) at (100, 80).
    expect(nearestPoint([...a, ...b], px, py, 95, 140)).toEqual({
      series: 'pre',
      index: 1,
      x: 1,
      y: 5,
    });
    expect(nearestPoint([...a, ...b], px, py, 98, 90)).toMatchObject({ series: 'post', y: 12 });
    expect(nearestPoint([], px, py, 0, 0)).toBeNull();
  });
});
