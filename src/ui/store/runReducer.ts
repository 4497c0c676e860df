/**
 * One run as the panels see it, grown message by message: the one reducer for the main run and
 * the comparison's. The trace is kept only here, and each chunk replaces just its own place in
 * it, so a panel that selects one layer is not re-rendered when another layer arrives.
 */
import type { ClientMessage } from '../../client/client';
import type { LayerChunk, StackTrace, Trace, TraceChunk } from '../../model/trace';
import { mergeStep } from '../../client/mergeStep';
import type { RunSpec, RunState } from './types';

/** The messages that belong to one run. */
export type RunMessage = Extract<ClientMessage, { type: 'tokens' | 'chunk' | 'done' | 'error' }>;

export function isRunMessage(m: ClientMessage): m is RunMessage {
  return m.type === 'tokens' || m.type === 'chunk' || m.type === 'done' || m.type === 'error';
}

/**
 * A run that has not answered yet. `base`: the run a generation step extends: its chunks hold
 * only the new rows, and its tokens message only the decoder's. Until they arrive the panels keep
 * showing the trace and tokens of `base`; an encoder–decoder's source tokens stay for good.
 */
export function newRun(
  id: number,
  spec: RunSpec,
  base: Pick<RunState, 'trace' | 'tokens' | 'truncated'> = { trace: {}, tokens: {}, truncated: {} },
): RunState {
  return {
    id,
    ...spec,
    trace: base.trace,
    tokens: base.tokens,
    truncated: base.truncated,
    done: false,
    computedFrom: 0,
    predictions: [],
    timings: null,
    error: null,
    continuation: null,
  };
}

function chunkAt(stack: StackTrace | undefined, chunk: TraceChunk): TraceChunk | undefined {
  if (chunk.type === 'embedding') return stack?.embedding;
  if (chunk.type === 'layer') return stack?.layers[chunk.layer];
  return stack?.output;
}

/**
 * The trace with `chunk` in its place. Chunks come in forward order (the embedding first); a
 * chunk with `queryStart > 0` holds a generation step's new rows, merged into the chunk it
 * continues (a long input's summaries take the rows: mergeStep). A full embedding starts its
 * stack over.
 */
export function growTrace(trace: Trace, chunk: TraceChunk, queryStart: number): Trace {
  const stack = trace[chunk.stack];
  if (queryStart > 0) {
    const previous = chunkAt(stack, chunk);
    if (!previous)
      throw new Error(`a generation step has no ${chunk.stack} ${chunk.type} to extend`);
    chunk = mergeStep(previous, chunk, stack?.embedding.inputIds);
  }
  if (chunk.type === 'embedding') {
    const kept =
      queryStart > 0 && stack ? { layers: stack.layers, output: stack.output } : { layers: [] };
    return { ...trace, [chunk.stack]: { ...kept, embedding: chunk } };
  }
  if (!stack) throw new Error(`a ${chunk.stack} ${chunk.type} chunk came before its embedding`);
  if (chunk.type === 'output') return { ...trace, [chunk.stack]: { ...stack, output: chunk } };
  // A long input's layer in full, asked for after the run (detail.ts): the worker sends only
  // the exact matrices; the summaries the run sent stay.
  const summaries = stack.layers[chunk.layer]?.summaries;
  if (summaries && !chunk.summaries) chunk = { ...chunk, summaries };
  const grown = { ...trace };
  // A long input's layer in full (its summaries beside): the one shown before goes back to its
  // summaries, so the page holds one layer's exact matrices (detail.ts).
  if (chunk.summaries && chunk.attentions.length > 0) {
    for (const st of ['encoder', 'decoder'] as const) {
      const other = grown[st];
      if (other?.layers.some(isDetailed)) {
        grown[st] = {
          ...other,
          layers: other.layers.map((l) => (isDetailed(l) ? summaryOnly(l) : l)),
        };
      }
    }
  }
  const layers = [...grown[chunk.stack]!.layers];
  layers[chunk.layer] = chunk;
  return { ...grown, [chunk.stack]: { ...grown[chunk.stack]!, layers } };
}

/** A summarised layer that also holds its exact attention. */
function isDetailed(l: LayerChunk | undefined): boolean {
  return l !== undefined && l.summaries !== undefined && l.attentions.length > 0;
}

function summaryOnly(l: LayerChunk): LayerChunk {
  return { ...l, attentions: [] };
}

export function reduceRun(run: RunState, m: RunMessage): RunState {
  if (m.id !== run.id) return run;
  switch (m.type) {
    case 'tokens':
      return {
        ...run,
        tokens: { ...run.tokens, [m.stack]: m.tokens },
        truncated: { ...run.truncated, [m.stack]: m.truncated },
      };
    case 'chunk':
      try {
        return {
          ...run,
          trace: growTrace(run.trace, m.chunk, m.queryStart),
          computedFrom: m.chunk.stack === 'encoder' ? run.computedFrom : m.queryStart,
        };
      } catch (e) {
        return {
          ...run,
          done: true,
          error: { code: 'forward-failed', message: (e as Error).message },
        };
      }
    case 'done':
      return {
        ...run,
        done: true,
        predictions: m.predictions,
        timings: m.timings,
        ...(m.maskPosition === undefined ? {} : { maskPosition: m.maskPosition }),
        continuation: m.continuation ?? null,
      };
    case 'error':
      return { ...run, done: true, error: { code: m.code, message: m.message } };
  }
}
