/**
 * Questions to the model's tokenizer, which lives in the worker: the tokenizer explorer's
 * explanations, and "repeat random tokens", which fills the input with the induction test's
 * random tokens repeated twice and runs it. Only the latest question's answer is kept.
 */
import type { ClientMessage } from '../../client/client';
import type { TokenizerQuery } from '../../workers/protocol';
import type { Get, Set } from './deps';
import type { TokenizerSlice } from './types';

/** Random tokens per half at most: long enough for a clear score, short enough to read. */
export const REPEAT_MAX = 50;

/** Tokens per half that fit the context twice, with one to spare for a start token. */
export function repeatLength(contextLength: number): number {
  return Math.max(1, Math.min(REPEAT_MAX, Math.floor((contextLength - 1) / 2)));
}

/** The slice, and `receive` for the store to route the main engine's answers to. */
export function tokenizerSlice(
  set: Set,
  get: Get,
): { slice: TokenizerSlice; receive(m: Extract<ClientMessage, { type: 'tokenizer' }>): void } {
  let pending: number | null = null;
  const ask = (query: TokenizerQuery) => {
    pending = get().engine.askTokenizer(query);
  };
  const slice: TokenizerSlice = {
    tokenizerAnswer: null,
    repeatSeed: 1,
    explainToken: (id) => ask({ kind: 'explain-token', id }),
    explainText: (text) => ask({ kind: 'explain-text', text }),
    repeatRandomTokens() {
      const s = get();
      const cfg = s.modelInfo?.config;
      if (!cfg) return;
      ask({ kind: 'repeat', length: repeatLength(cfg.contextLength), seed: s.repeatSeed });
      set({ repeatSeed: s.repeatSeed + 1 });
    },
  };
  return {
    slice,
    receive(m) {
      if (m.id !== pending) return;
      pending = null;
      const { answer } = m;
      if (answer.kind === 'repeat') {
        set({ text: answer.text });
        get().runNow();
      } else if (answer.kind === 'error' && m.query.kind === 'repeat') {
        get().notify('error', answer.message);
      } else {
        set({ tokenizerAnswer: answer });
      }
    },
  };
}
