/**
 * Derived views of a run (the attention a focus points at, its matrix, its axis labels), and the
 * narrow selectors components subscribe with. The run object changes on every chunk frame; each
 * selector below returns a reference that changes only when what it names changes (the trace is
 * grown with the untouched parts kept, runReducer.ts), so a panel re-renders only for its data.
 */
import {
  row,
  type AttentionSummary,
  type AttentionTrace,
  type Matrix,
  type Stack,
} from '../../model/trace';
import type { TokenInfo } from '../../workers/protocol';
import { displayPiece } from '../lib/pieces';
import type { AttentionKind, ValueMode } from '../lib/urlState';
import { weightByValueNorms } from '../lib/valueWeighted';
import { aggregateMask, aggregateToWords, wordGroups, wordText } from '../lib/words';
import type { LabState, RunState } from './types';

export function attentionOf(
  run: Pick<RunState, 'trace'> | null,
  at: { stack: Stack; layer: number; kind: AttentionKind },
): AttentionTrace | null {
  const layer = run?.trace[at.stack]?.layers[at.layer];
  return layer?.attentions.find((a) => a.kind === at.kind) ?? null;
}

/** A long input's summary of an attention (its layer came summarised), else null. */
export function summaryOf(
  run: Pick<RunState, 'trace'> | null,
  at: { stack: Stack; layer: number; kind: AttentionKind },
): AttentionSummary | null {
  const layer = run?.trace[at.stack]?.layers[at.layer];
  return layer?.summaries?.find((a) => a.kind === at.kind) ?? null;
}

/**
 * What a layer's thumbnails draw: a long input's summaries (pooled probabilities), even for the
 * layer held in full, so that its pictures do not change when the focus moves; else the
 * probabilities.
 */
export function thumbnailsOf(
  run: Pick<RunState, 'trace'>,
  at: { stack: Stack; layer: number; kind: AttentionKind },
): { matrix: Matrix; mask: Matrix; headGate: Float32Array } | null {
  const summary = summaryOf(run, at);
  if (summary)
    return { matrix: summary.pooled, mask: summary.pooledMask, headGate: summary.headGate };
  const att = attentionOf(run, at);
  return att && { matrix: att.probs, mask: att.mask, headGate: att.headGate };
}

export interface AxisTokens {
  queries: TokenInfo[];
  keys: TokenInfo[];
}

/** Pieces along the query and key axes: cross-attention's keys are the encoder's tokens. */
export function axisTokens(
  tokens: RunState['tokens'] | undefined,
  at: { stack: Stack; kind: AttentionKind },
): AxisTokens {
  const queries = tokens?.[at.stack] ?? [];
  const keys = at.kind === 'cross' ? (tokens?.encoder ?? []) : queries;
  return { queries, keys };
}

export interface HeadMatrix {
  values: Float32Array;
  rows: number;
  cols: number;
  mask: Float32Array;
  rowLabels: string[];
  colLabels: string[];
  /** Token index (or word group) each row / column stands for. */
  rowGroups: number[][];
  colGroups: number[][];
}

/** Labels for `n` positions: the pieces when known, else the position numbers. */
function labels(tokens: TokenInfo[], n: number): string[] {
  return Array.from({ length: n }, (_, i) =>
    tokens[i] ? displayPiece(tokens[i].piece) : String(i),
  );
}

/**
 * One head's matrix as drawn: probabilities, raw scores or attention × ‖value‖, per piece or
 * (probabilities only) aggregated to words. Null for `weighted` when the run traced no value
 * norms (they come with q, k and v).
 */
export function headMatrix(
  att: AttentionTrace | null,
  axis: AxisTokens,
  head: number,
  mode: ValueMode,
  words: boolean,
): HeadMatrix | null {
  if (!att || head >= att.probs.shape[0]) return null;
  const [, rows, cols] = att.probs.shape;
  if (mode === 'weighted' && !att.valueNorms) return null;
  const values =
    mode === 'weighted'
      ? weightByValueNorms(row(att.probs, head), cols, row(att.valueNorms!, head))
      : row(mode === 'scores' ? att.scores : att.probs, head);
  const { queries, keys } = axis;
  const single = (n: number) => Array.from({ length: n }, (_, i) => [i]);
  if (words && mode === 'probs' && queries.length === rows && keys.length === cols) {
    const qPieces = queries.map((t) => t.piece);
    const kPieces = keys.map((t) => t.piece);
    const rowGroups = wordGroups(qPieces);
    const colGroups = wordGroups(kPieces);
    return {
      values: aggregateToWords(values, cols, rowGroups, colGroups),
      rows: rowGroups.length,
      cols: colGroups.length,
      mask: aggregateMask(att.mask.data, cols, rowGroups, colGroups),
      rowLabels: rowGroups.map((g) => displayPiece(wordText(qPieces, g))),
      colLabels: colGroups.map((g) => displayPiece(wordText(kPieces, g))),
      rowGroups,
      colGroups,
    };
  }
  return {
    values,
    rows,
    cols,
    mask: att.mask.data,
    rowLabels: labels(queries, rows),
    colLabels: labels(keys, cols),
    rowGroups: single(rows),
    colGroups: single(cols),
  };
}

/** Whether the run's attention at `focus` came from an ablated head. */
export function isAblated(att: AttentionTrace | null, head: number): boolean {
  return att !== null && att.headGate[head] === 0;
}

/** Descriptions of every counterfactual a run was made under, for the panels' labels. */
export function counterfactuals(
  i: RunState['interventions'] | null | undefined,
  causalModel: boolean,
): string[] {
  if (!i) return [];
  const out: string[] = [];
  if (!i.causalMask) out.push(causalModel ? 'causal mask off' : 'causal mask on');
  if (!i.usePositions) out.push('positions removed');
  if (i.ablatedHeads.length) {
    const n = i.ablatedHeads.length;
    out.push(`${n} head${n === 1 ? '' : 's'} ablated`);
  }
  return out;
}

// --- narrow selectors ---------------------------------------------------------------------------

export const selectRunId = (s: LabState): number | null => s.run?.id ?? null;
export const selectRunTokens = (s: LabState): RunState['tokens'] | undefined => s.run?.tokens;
export const selectRunTruncated = (s: LabState): boolean =>
  Boolean(s.run?.truncated.decoder || s.run?.truncated.encoder);
export const selectRunError = (s: LabState): RunState['error'] => s.run?.error ?? null;
export const selectRunDone = (s: LabState): boolean => s.run?.done ?? false;
export const selectRunInterventions = (s: LabState): RunState['interventions'] | null =>
  s.run?.interventions ?? null;
export const selectPredictions = (s: LabState): RunState['predictions'] | null =>
  s.run?.predictions ?? null;
export const selectMaskPosition = (s: LabState): number | undefined => s.run?.maskPosition;
/** Tokens of the run's last stack (the decoder's, or an encoder-only model's). */
export const selectRunLength = (s: LabState): number =>
  (s.run?.tokens.decoder ?? s.run?.tokens.encoder)?.length ?? 0;
/** Whether the run on screen captured q, k and v. */
export const selectRunCaptureQKV = (s: LabState): boolean => s.run?.captureQKV ?? false;
/**
 * Why the panels have nothing to draw and nothing is coming: an empty input, or a run that failed
 * (text the tokenizer rejects). Null while a run is in flight or on screen.
 */
export const selectNoData = (s: LabState): string | null => {
  if (!s.modelInfo || s.inFlight) return null;
  if (!s.run) return 'Nothing to show: the input is empty. Type some text.';
  if (s.run.done && s.run.error) return `Nothing to show: ${s.run.error.message}.`;
  return null;
};
/** The whole trace: for panels that draw every layer (it changes with each chunk frame). */
export const selectTrace = (s: LabState): RunState['trace'] | null => s.run?.trace ?? null;

/** One attention of the run: unchanged while other layers arrive. */
export function selectAttention(at: {
  stack: Stack;
  layer: number;
  kind: AttentionKind;
}): (s: LabState) => AttentionTrace | null {
  return (s) => attentionOf(s.run, at);
}
