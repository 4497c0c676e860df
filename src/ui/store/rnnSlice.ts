/**
 * RNN against attention: the measurement the RNN-vs-attention view and the cost panel show
 * (model/rnnVsAttention.ts, run in the main engine's worker on its backend). Its rows arrive
 * one length at a time; any newer run stops it there, and `stop` says so.
 */
import type { ClientMessage } from '../../client/client';
import type { Get, Set } from './deps';
import type { RnnSlice } from './types';

/** A length whose RNN or attention run takes longer than this ends the measurement. */
export const RNN_TIME_BOUND_MS = 2000;

export type RnnMessage = Extract<ClientMessage, { type: 'rnn-row' | 'rnn-done' | 'error' }>;

export function rnnSlice(set: Set, get: Get): RnnSlice {
  return {
    rnn: null,
    measureRnn(maxN) {
      const s = get();
      if (!s.modelInfo) return;
      const id = s.engine.measureRnnVsAttention(maxN, RNN_TIME_BOUND_MS);
      const backend = s.backend?.backend ?? '?';
      set({ rnn: { id, maxN, backend, rows: [], done: false, stop: null } });
    },
  };
}

/** A message of the measurement on screen (the store routes only those of its id here). */
export function receiveRnn(set: Set, get: Get, m: RnnMessage): void {
  const rnn = get().rnn;
  if (!rnn || rnn.id !== m.id) return;
  if (m.type === 'rnn-row') set({ rnn: { ...rnn, rows: [...rnn.rows, m.row] } });
  else set({ rnn: { ...rnn, done: true, stop: m.type === 'error' ? m.message : m.stop } });
}
