/**
 * A cached generation step computes only the new token's rows: its chunks hold `[heads, 1, keys]`
 * attention instead of `[heads, tokens, keys]`. `mergeStep` puts such a chunk together with the
 * previous full chunk of the same place, so the UI always receives whole chunks. A long input's
 * layer holds summaries (and the exact matrices only for the layer shown): the step's exact rows
 * are folded into them, and appended to the exact matrices where there are any.
 */
import { foldRows } from '../model/analysis/attentionSummary';
import type {
  AttentionTrace,
  EmbeddingChunk,
  LayerChunk,
  Matrix,
  NormStats,
  OutputChunk,
  TraceChunk,
} from '../model/trace';

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Stack the rows of `b` under those of `a` along `rowAxis`, the axis before the last. Rows of
 * the narrower one are padded with zeros on the right: earlier queries never scored the new key,
 * and their mask says so.
 */
export function appendRows(a: Matrix, b: Matrix, rowAxis: number): Matrix {
  const outer = a.shape.slice(0, rowAxis).reduce((x, y) => x * y, 1);
  const rowsA = a.shape[rowAxis];
  const rowsB = b.shape[rowAxis];
  const colsA = a.shape[rowAxis + 1] ?? 1;
  const colsB = b.shape[rowAxis + 1] ?? 1;
  const cols = Math.max(colsA, colsB);
  const rows = rowsA + rowsB;
  const data = new Float32Array(outer * rows * cols);
  for (let o = 0; o < outer; o++) {
    for (let r = 0; r < rowsA; r++) {
      const from = (o * rowsA + r) * colsA;
      data.set(a.data.subarray(from, from + colsA), (o * rows + r) * cols);
    }
    for (let r = 0; r < rowsB; r++) {
      const from = (o * rowsB + r) * colsB;
      data.set(b.data.subarray(from, from + colsB), (o * rows + rowsA + r) * cols);
    }
  }
  const shape = [
    ...a.shape.slice(0, rowAxis),
    rows,
    ...(rowAxis + 1 < a.shape.length ? [cols] : []),
  ];
  return { shape, data };
}

function mergeAttention(a: AttentionTrace, b: AttentionTrace): AttentionTrace {
  const merged: AttentionTrace = {
    kind: b.kind,
    causal: b.causal,
    scores: appendRows(a.scores, b.scores, 1),
    probs: appendRows(a.probs, b.probs, 1),
    mask: appendRows(a.mask, b.mask, 0),
    headGate: b.headGate,
  };
  if (a.q && b.q && a.headOutputs && b.headOutputs) {
    merged.q = appendRows(a.q, b.q, 1);
    merged.headOutputs = appendRows(a.headOutputs, b.headOutputs, 1);
    // The step's keys and values already include the cached ones.
    merged.k = b.k;
    merged.v = b.v;
    if (b.valueNorms) merged.valueNorms = b.valueNorms;
  }
  return merged;
}

function mergeNorms(a: NormStats, b: NormStats): NormStats {
  return {
    name: b.name,
    inputMean: concat(a.inputMean, b.inputMean),
    inputVar: concat(a.inputVar, b.inputVar),
    outputMean: concat(a.outputMean, b.outputMean),
    outputVar: concat(a.outputVar, b.outputVar),
  };
}

function mergeEmbedding(a: EmbeddingChunk, b: EmbeddingChunk): EmbeddingChunk {
  return {
    ...b,
    inputIds: [...a.inputIds, ...b.inputIds],
    ...(a.positions && b.positions ? { positions: appendRows(a.positions, b.positions, 0) } : {}),
    hidden: appendRows(a.hidden, b.hidden, 0),
  };
}

function mergeLayer(a: LayerChunk, b: LayerChunk, ids?: readonly number[]): LayerChunk {
  // A long input's layer shown as summaries only stays so; the step's rows go into them.
  const summaryOnly = a.summaries !== undefined && a.attentions.length === 0;
  const firstRow = a.hidden.shape[0];
  return {
    ...b,
    attentions: summaryOnly
      ? []
      : b.attentions.map((att, i) => mergeAttention(a.attentions[i], att)),
    ...(a.summaries
      ? { summaries: a.summaries.map((s, i) => foldRows(s, b.attentions[i], firstRow, ids)) }
      : {}),
    norms: b.norms.map((n, i) => mergeNorms(a.norms[i], n)),
    residual: b.residual.map((r, i) => ({
      point: r.point,
      norms: concat(a.residual[i].norms, r.norms),
    })),
    hidden: appendRows(a.hidden, b.hidden, 0),
  };
}

function mergeOutput(a: OutputChunk, b: OutputChunk): OutputChunk {
  // Logits of every earlier row are kept only if the previous chunk had them all.
  const allRows = a.logitPositions.length === a.hidden.shape[0];
  const keepRows = allRows && a.logits && b.logits;
  return {
    ...b,
    ...(a.finalNorm && b.finalNorm ? { finalNorm: mergeNorms(a.finalNorm, b.finalNorm) } : {}),
    hidden: appendRows(a.hidden, b.hidden, 0),
    ...(keepRows ? { logits: appendRows(a.logits!, b.logits!, 0) } : {}),
    logitPositions: keepRows ? [...a.logitPositions, ...b.logitPositions] : b.logitPositions,
  };
}

/**
 * The full chunk after a generation step: `previous` (all earlier rows) plus `step` (new rows).
 * `ids`: the stack's tokens, the new ones included (a long input's summaries measure the
 * induction score on them).
 */
export function mergeStep(
  previous: TraceChunk,
  step: TraceChunk,
  ids?: readonly number[],
): TraceChunk {
  if (previous.type === 'embedding' && step.type === 'embedding') {
    return mergeEmbedding(previous, step);
  }
  if (previous.type === 'layer' && step.type === 'layer') return mergeLayer(previous, step, ids);
  if (previous.type === 'output' && step.type === 'output') return mergeOutput(previous, step);
  throw new Error(`cannot merge a ${step.type} chunk into a ${previous.type} chunk`);
}

/** Which chunk a step chunk continues: the same kind, stack and layer. */
export function chunkKey(chunk: TraceChunk): string {
  return `${chunk.stack}/${chunk.type}/${chunk.type === 'layer' ? chunk.layer : ''}`;
}
