/**
 * The generation session: the last finished sequence, which `generate` extends by its argmax,
 * and the keys/values cached for it. A step reuses the cache only while every earlier row is
 * unchanged: the same interventions, and a causal mask so that no earlier token sees the new one.
 */
import { createKVCache, type KVCache } from '../model/model';
import type { Interventions, LogitRows } from './protocol';
import type { Prepared } from './inputs';

export interface Session {
  ids: number[];
  sourceIds?: number[];
  /** Argmax of the last position: the token `generate` appends. */
  nextId: number;
  logits: LogitRows;
  /** Keys/values of `ids`, valid only for the interventions it was filled under. */
  cache?: { kv: KVCache; interventions: string };
}

/** What one generation step computes. */
export interface Step {
  /** The sequence once the step is done. */
  ids: number[];
  /** What the forward computes: only the new token when the cache holds the rest. */
  input: Prepared;
  /** Position of the first token computed (cached tokens come before it). */
  queryStart: number;
  cache?: KVCache;
}

function interventionsKey(i: Interventions): string {
  const heads = i.ablatedHeads
    .map((h) => `${h.stack}.${h.attention ?? 'self'}.${h.layer}.${h.head}`)
    .sort();
  return JSON.stringify([i.causalMask, i.usePositions, heads]);
}

/**
 * The next step of `session` under `interventions`; the session's cache is kept (reused), or
 * replaced by an empty one (causal mask) or none.
 */
export function nextStep(session: Session, interventions: Interventions): Step {
  const ids = [...session.ids, session.nextId];
  const key = interventionsKey(interventions);
  const reuse = session.cache?.interventions === key && interventions.causalMask;
  if (!reuse) {
    session.cache?.kv.dispose();
    session.cache = interventions.causalMask
      ? { kv: createKVCache(), interventions: key }
      : undefined;
  }
  return {
    ids,
    input: { ids: reuse ? [session.nextId] : ids, sourceIds: session.sourceIds },
    queryStart: reuse ? session.ids.length : 0,
    cache: session.cache?.kv,
  };
}

export function disposeSession(session: Session | null): void {
  session?.cache?.kv.dispose();
}
