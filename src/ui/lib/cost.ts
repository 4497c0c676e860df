/**
 * Why attention is the expensive part of a long context: per layer, the score matrix and the
 * weighted sum cost ~n² multiply–adds while projections and the MLP cost ~n. Counted in
 * multiply–adds (forward pass, one sequence), for the layer the model actually has: no MLP in an
 * attention-only model, three matrices in a gated (SwiGLU) MLP, narrower K and V projections
 * under grouped-query attention.
 */
import { headDim, kvHeadCount, type ModelConfig } from '../../model/config';

/** What a layer's cost depends on. */
export interface LayerShape {
  d: number;
  heads: number;
  /** Width of all query heads together, h·d_head (d for most models). */
  attentionWidth: number;
  /** Multiply–adds per token of the Q, K, V, O projections and the MLP. */
  linearPerToken: number;
  /** The per-token term in words, for the caption: "4d² + 2d·d_ff". */
  linearFormula: string;
  /** Whether the layer has an MLP (attention-only models have none). */
  mlp: boolean;
}

export function layerShape(cfg: ModelConfig): LayerShape {
  const d = cfg.dModel;
  const dh = headDim(cfg);
  const q = cfg.nHeads * dh;
  const kv = kvHeadCount(cfg) * dh;
  const mlpMatrices = cfg.attentionOnly ? 0 : cfg.mlp === 'gated' ? 3 : 2;
  const projections = q === d && kv === d ? '4d²' : `2d·${q} + 2d·${kv}`;
  return {
    d,
    heads: cfg.nHeads,
    attentionWidth: q,
    linearPerToken: 2 * d * q + 2 * d * kv + mlpMatrices * d * cfg.dFF,
    linearFormula: mlpMatrices ? `${projections} + ${mlpMatrices}d·d_ff` : projections,
    mlp: mlpMatrices > 0,
  };
}

export interface CostPoint {
  n: number;
  /** QKᵀ and P·V: 2·n²·(h·d_head). */
  attention: number;
  /** The projections plus the MLP: n · `linearPerToken`. */
  linear: number;
  /** Floats held by the attention matrices of one layer: heads·n². */
  attentionMemory: number;
}

export function costAt(n: number, s: LayerShape): CostPoint {
  return {
    n,
    attention: 2 * n * n * s.attentionWidth,
    linear: n * s.linearPerToken,
    attentionMemory: s.heads * n * n,
  };
}

/** The sequence length where the n² term overtakes the n term: 2n²·(h·d_head) = n · linearPerToken. */
export function crossoverLength(s: LayerShape): number {
  return s.linearPerToken / (2 * s.attentionWidth);
}

/** Sequence lengths 1, 2, 4, … up to and including `maxN`. */
export function lengthsUpTo(maxN: number): number[] {
  const out: number[] = [];
  for (let n = 1; n < maxN; n *= 2) out.push(n);
  if (maxN >= 1) out.push(maxN);
  return out;
}

export function costSeries(maxN: number, s: LayerShape): CostPoint[] {
  return lengthsUpTo(maxN).map((n) => costAt(n, s));
}
