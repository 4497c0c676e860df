/** The interpret tab's pure logic (src/ui/lib/interpret.ts): matrices, hover texts, the sum. */
import { describe, expect, it } from 'vitest';
import {
  attributionMatrix,
  attributionParts,
  attributionSumText,
  describeInterventions,
  describeLensCell,
  describePatchCell,
  lensMatrix,
  lensTopK,
  patchingMatrices,
} from '../../src/ui/lib/interpret';
import type {
  ActivationPatchingResult,
  LogitAttributionResult,
  LogitLensResult,
} from '../../src/workers/protocol';

const interventions = { causalMask: true, usePositions: true, ablatedHeads: [] };
const tokens = [
  { id: 5, piece: ' the' },
  { id: 6, piece: ' cat' },
];

describe('interpret views', () => {
  it('names the interventions a tool read the model under, or none', () => {
    expect(describeInterventions(interventions)).toBeNull();
    const head = (layer: number, h: number) => ({ stack: 'decoder' as const, layer, head: h });
    expect(
      describeInterventions({ causalMask: false, usePositions: false, ablatedHeads: [head(1, 2)] }),
    ).toBe('head 1.2 ablated; causal mask off; positions removed');
    expect(
      describeInterventions({ ...interventions, ablatedHeads: [head(0, 1), head(3, 0)] }),
    ).toBe('heads 0.1, 3.0 ablated');
  });

  it('draws the lens as points × positions and lists its top-k per point', () => {
    const lens: LogitLensResult = {
      tool: 'logit-lens',
      interventions,
      tokens,
      position: 1,
      points: ['embeddings', '0 attn'],
      top1: Int32Array.from([5, 6, 7, 8]),
      top1Prob: Float32Array.from([0.1, 0.2, 0.3, 0.75]),
      k: 2,
      topIds: Int32Array.from([6, 5, 8, 7]),
      topProbs: Float32Array.from([0.2, 0.1, 0.75, 0.2]),
      pieces: { 5: ' the', 6: ' cat', 7: ' sat', 8: ' on' },
    };
    const m = lensMatrix(lens);
    expect([m.rows, m.cols]).toEqual([2, 2]);
    expect(m.colLabels).toEqual(['0 ·the', '1 ·cat']);
    expect(describeLensCell(lens, 1, 1)).toBe('after 0 attn, position 1 ·cat: “·on” 75.0%');
    expect(lensTopK(lens)[1]).toEqual([
      { id: 8, piece: ' on', prob: Float32Array.from([0.75])[0] },
      { id: 7, piece: ' sat', prob: Float32Array.from([0.2])[0] },
    ]);
  });

  it('puts each layer’s MLP after its heads and sums every part of the logit', () => {
    const a: LogitAttributionResult = {
      tool: 'logit-attribution',
      interventions,
      tokens,
      position: 1,
      token: { id: 7, piece: ' sat' },
      layers: 2,
      heads: 2,
      headShares: Float32Array.from([1, 2, 3, 4]),
      mlpShares: Float32Array.from([10, 20]),
      embedding: 0.5,
      biases: -0.25,
      logit: 40.25,
    };
    const m = attributionMatrix(a);
    expect(Array.from(m.values)).toEqual([1, 2, 10, 3, 4, 20]);
    expect(m.colLabels).toEqual(['head 0', 'head 1', 'MLP']);
    expect(attributionParts(a)).toEqual({
      embedding: 0.5,
      heads: 10,
      mlps: 30,
      biases: -0.25,
      total: 40.25,
    });
    expect(attributionMatrix({ ...a, mlpShares: new Float32Array(0) }).cols).toBe(2);
    expect(attributionSumText(a)).toBe(
      'embeddings +0.500, heads +10.000, MLPs +30.000, biases −0.250',
    );
    // An attention-only model has no MLP to show as +0.000.
    expect(attributionSumText({ ...a, mlpShares: new Float32Array(0) })).toBe(
      'embeddings +0.500, heads +10.000, biases −0.250',
    );
  });

  it('labels patching’s positions with both prompts’ tokens where they differ', () => {
    const p: ActivationPatchingResult = {
      tool: 'activation-patching',
      interventions,
      tokens,
      corruptedTokens: [tokens[0], { id: 9, piece: ' dog' }],
      answer: { id: 7, piece: ' sat' },
      foil: { id: 8, piece: ' on' },
      clean: 2,
      corrupted: -2,
      layers: 1,
      heads: 2,
      headDiffs: Float32Array.from([0, 2]),
      residualDiffs: Float32Array.from([-2, 2]),
      headRestored: Float32Array.from([0.5, 1]),
      residualRestored: Float32Array.from([0, 1]),
    };
    const maps = patchingMatrices(p);
    expect(maps.positions.colLabels).toEqual(['0 ·the', '1 ·cat/·dog']);
    expect(maps.heads.rowLabels).toEqual(['layer 0']);
    expect(describePatchCell(p, 'heads', 0, 0)).toBe(
      'layer 0 head 0: 50.0% restored (logit difference 0.000)',
    );
    expect(describePatchCell(p, 'positions', 0, 1)).toBe(
      'layer 0 input, position 1: 100.0% restored (logit difference 2.000)',
    );
  });
});
