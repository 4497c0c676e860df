/**
 * The generation session: the last finished sequence, which `generate` extends by a token chosen
 * from its last logits (the argmax, or a seeded draw: model/sampling.ts), and the keys/values
 * cached for it. A step reuses the cache only while every earlier row is
 * unchanged: the same interventions, and a causal mask so that no earlier token sees the new one.
 */
import { createKVCache, type KVCache } from '../model/model';
import type { Tokenizer } from '../model/tokenizer';
import { sampleToken, stepUniform, type Sampling } from '../model/sampling';
import type { Interventions, LogitRows } from './protocol';
import type { Prepared } from './inputs';

export interface Session {
  /** The ids of the last `run`: what `generate` has written is everything after them. */
  promptIds: number[];
  ids: number[];
  sourceIds?: number[];
  /** Logits of the last position, which `generate` chooses the token it appends from. */
  next: Float32Array;
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
 * The next step of `session` under `interventions`, appending the token `sampling` picks; the
 * session's cache is kept (reused, unless `reusable` is false: the step must run the whole
 * sequence), or replaced by an empty one (causal mask) or none.
 */
export function nextStep(
  session: Session,
  interventions: Interventions,
  sampling: Sampling,
  reusable = true,
): Step {
  const u = stepUniform(sampling.seed, session.ids.length);
  const nextId = sampleToken(session.next, sampling, u);
  const ids = [...session.ids, nextId];
  const key = interventionsKey(interventions);
  const reuse = reusable && session.cache?.interventions === key && interventions.causalMask;
  if (!reuse) {
    session.cache?.kv.dispose();
    session.cache = interventions.causalMask
      ? { kv: createKVCache(), interventions: key }
      : undefined;
  }
  return {
    ids,
    input: { ids: reuse ? [nextId] : ids, sourceIds: session.sourceIds },
    queryStart: reuse ? session.ids.length : 0,
    cache: session.cache?.kv,
  };
}

/** Bytes that begin a UTF-8 character whose other bytes have not been generated yet. */
const UNFINISHED_CHARACTER = /\uFFFD+$/;

/**
 * The text of the tokens `ids` has beyond `promptIds`: decoded together, so that byte pieces
 * (`<0xE2>` `<0x86>` `<0x92>`) become the character they make. The whole sequence is decoded and
 * the prompt's text cut off, since some tokenizers decode a piece differently at the start
 * (SentencePiece drops a leading space). A character still missing bytes is left out until the
 * token that completes it. Without a tokenizer the text is the ids, as the input is typed.
 */
export function generatedText(
  tokenizer: Tokenizer | null,
  promptIds: readonly number[],
  ids: readonly number[],
): string {
  const added = ids.slice(promptIds.length);
  if (!tokenizer) return added.map((id) => ` ${id}`).join('');
  const before = tokenizer.decode([...promptIds]);
  const after = tokenizer.decode([...ids]);
  const text = after.startsWith(before) ? after.slice(before.length) : tokenizer.decode(added);
  return text.replace(UNFINISHED_CHARACTER, '');
}

export function disposeSession(session: Session | null): void {
  session?.cache?.kv.dispose();
}
