/**
 * The interpretability tools' answers (protocol `AnalysisResult`s) as the heatmaps draw them:
 * labelled matrices, hover texts and the attribution's sum. Pure, unit tested.
 */
import type {
  ActivationPatchingResult,
  Interventions,
  LogitAttributionResult,
  LogitLensResult,
  TokenInfo,
} from '../../workers/protocol';
import type { LabelledMatrix } from './matrixWindow';
import { displayPiece } from './pieces';

/** "3 ·cat": a position and its token, for an axis. */
export function positionLabels(tokens: TokenInfo[]): string[] {
  return tokens.map((t, i) => `${i} ${displayPiece(t.piece)}`);
}

const layerLabels = (layers: number) => Array.from({ length: layers }, (_, l) => `layer ${l}`);
const headLabels = (heads: number) => Array.from({ length: heads }, (_, h) => `head ${h}`);

/**
 * The interventions a tool read the model under, in words ("head 1.2 ablated, causal mask
 * off"), or null for none: the unmodified model. Decoder-only models (the tools read no other).
 */
export function describeInterventions(i: Interventions): string | null {
  const parts: string[] = [];
  const heads = i.ablatedHeads.map((h) => `${h.layer}.${h.head}`);
  if (heads.length) parts.push(`head${heads.length > 1 ? 's' : ''} ${heads.join(', ')} ablated`);
  if (!i.causalMask) parts.push('causal mask off');
  if (!i.usePositions) parts.push('positions removed');
  return parts.length ? parts.join('; ') : null;
}

/** The lens grid: the top-1 probability per residual point (rows) and position (columns). */
export function lensMatrix(r: LogitLensResult): LabelledMatrix {
  return {
    values: r.top1Prob,
    rows: r.points.length,
    cols: r.tokens.length,
    rowLabels: r.points,
    colLabels: positionLabels(r.tokens),
  };
}

/** A lens cell's hover text: where, and the token it reads there with its probability. */
export function describeLensCell(r: LogitLensResult, row: number, col: number): string {
  const i = row * r.tokens.length + col;
  const token = displayPiece(r.pieces[r.top1[i]] ?? '');
  return `after ${r.points[row]}, position ${positionLabels(r.tokens)[col]}: “${token}” ${(100 * r.top1Prob[i]).toFixed(1)}%`;
}

/** The top-k at the lens's position, per point: `[{ piece, prob }]` rows. */
export function lensTopK(r: LogitLensResult): { id: number; piece: string; prob: number }[][] {
  return r.points.map((_, p) =>
    Array.from({ length: r.k }, (_, j) => {
      const id = r.topIds[p * r.k + j];
      return { id, piece: r.pieces[id] ?? '', prob: r.topProbs[p * r.k + j] };
    }),
  );
}

/** The attribution as layers × (heads, then the MLP where the model has them). */
export function attributionMatrix(r: LogitAttributionResult): LabelledMatrix {
  const mlp = r.mlpShares.length > 0;
  const cols = r.heads + (mlp ? 1 : 0);
  const values = new Float32Array(r.layers * cols);
  for (let l = 0; l < r.layers; l++) {
    values.set(r.headShares.subarray(l * r.heads, (l + 1) * r.heads), l * cols);
    if (mlp) values[l * cols + r.heads] = r.mlpShares[l];
  }
  return {
    values,
    rows: r.layers,
    cols,
    rowLabels: layerLabels(r.layers),
    colLabels: [...headLabels(r.heads), ...(mlp ? ['MLP'] : [])],
  };
}

/** The parts of the logit, summed: what the panel shows beside the model's own logit. */
export function attributionParts(r: LogitAttributionResult): {
  embedding: number;
  heads: number;
  mlps: number;
  biases: number;
  total: number;
} {
  const sum = (xs: Float32Array) => xs.reduce((s, v) => s + v, 0);
  const heads = sum(r.headShares);
  const mlps = sum(r.mlpShares);
  return {
    embedding: r.embedding,
    heads,
    mlps,
    biases: r.biases,
    total: r.embedding + heads + mlps + r.biases,
  };
}

/** A share with its sign: "+0.498", "−1.893". */
export const signed = (v: number): string => (v >= 0 ? '+' : '−') + Math.abs(v).toFixed(3);

/**
 * The attribution's sum in words: "embeddings +0.498, heads +8.076, biases +0.940", with no MLP
 * term for an attention-only model (it has none to show as +0.000).
 */
export function attributionSumText(r: LogitAttributionResult): string {
  const p = attributionParts(r);
  const terms: [string, number][] = [
    ['embeddings', p.embedding],
    ['heads', p.heads],
    ...(r.mlpShares.length ? [['MLPs', p.mlps] as [string, number]] : []),
    ['biases', p.biases],
  ];
  return terms.map(([name, v]) => `${name} ${signed(v)}`).join(', ');
}

/** Patching's two maps: restored fraction per layer × head and per layer × position. */
export function patchingMatrices(r: ActivationPatchingResult): {
  heads: LabelledMatrix;
  positions: LabelledMatrix;
} {
  return {
    heads: {
      values: r.headRestored,
      rows: r.layers,
      cols: r.heads,
      rowLabels: layerLabels(r.layers),
      colLabels: headLabels(r.heads),
    },
    positions: {
      values: r.residualRestored,
      rows: r.layers,
      cols: r.tokens.length,
      rowLabels: layerLabels(r.layers),
      colLabels: r.tokens.map((t, i) => {
        const corrupted = r.corruptedTokens[i]?.piece ?? '';
        const both =
          t.piece === corrupted
            ? displayPiece(t.piece)
            : `${displayPiece(t.piece)}/${displayPiece(corrupted)}`;
        return `${i} ${both}`;
      }),
    },
  };
}

/** A patching cell's hover text: the fraction restored and the logit difference behind it. */
export function describePatchCell(
  r: ActivationPatchingResult,
  map: 'heads' | 'positions',
  row: number,
  col: number,
): string {
  const cols = map === 'heads' ? r.heads : r.tokens.length;
  const i = row * cols + col;
  const restored = map === 'heads' ? r.headRestored[i] : r.residualRestored[i];
  const diff = map === 'heads' ? r.headDiffs[i] : r.residualDiffs[i];
  const where =
    map === 'heads' ? `layer ${row} head ${col}` : `layer ${row} input, position ${col}`;
  return `${where}: ${(100 * restored).toFixed(1)}% restored (logit difference ${diff.toFixed(3)})`;
}
