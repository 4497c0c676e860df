/**
 * `window.__attentionLab`: how the e2e tests and the bench drive and watch the real app. The
 * EngineClient registers itself and logs a summary of every event it passes on (no matrices);
 * UI panels call `notePaint` after drawing a run's data, so a test can tell what reached the
 * screen, not just the store.
 */
import type { EngineClient } from './client';
import type { ClientMessage } from './types';

export interface DebugEvent {
  /**
   * What the client sent (`request`, detail `{ type }`: load, run, generate, cancel) or passed
   * on: `backend`, `progress`, `loaded`, `tokens`, `chunk`, `done`, `error`, `notice`; and
   * `reloaded` for the model loaded again after a restart (not passed on: the UI has it).
   */
  event: string;
  /** Request id (0 for events without one). */
  id: number;
  /** `performance.now()` on the main thread when the event was passed on. */
  at: number;
  /** A small summary, e.g. `{ type: 'layer', stack: 'decoder', layer: 3 }` for a chunk. */
  detail: unknown;
}

export interface PaintRecord {
  id: number;
  panel: string;
  at: number;
}

export interface DebugHandle {
  client: EngineClient | null;
  events: DebugEvent[];
  paints: PaintRecord[];
}

declare global {
  interface Window {
    __attentionLab?: DebugHandle;
  }
}

/** Keeps the logs bounded in a long session. */
const MAX_RECORDS = 10_000;

function handle(): DebugHandle | undefined {
  if (typeof window === 'undefined') return undefined;
  window.__attentionLab ??= { client: null, events: [], paints: [] };
  return window.__attentionLab;
}

function push<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > MAX_RECORDS) list.splice(0, list.length - MAX_RECORDS);
}

export function registerDebugClient(client: EngineClient): void {
  const h = handle();
  if (h) h.client = client;
}

export function recordDebugEvent(event: string, id: number, detail: unknown): void {
  const h = handle();
  if (h) push(h.events, { event, id, at: performance.now(), detail });
}

/** The request id a message belongs to (0 for those without one). */
export function messageId(message: ClientMessage): number {
  return 'id' in message ? message.id : 0;
}

/** What the log keeps of a message passed on: a small summary, never a matrix. */
export function eventDetail(m: ClientMessage): unknown {
  switch (m.type) {
    case 'backend':
      return m.info;
    case 'cache':
      return m.usage;
    case 'tokenizer':
      return { kind: m.answer.kind };
    case 'progress':
      return { stage: m.stage, loaded: m.loaded };
    case 'loaded':
      return { name: m.info.name, config: m.info.config };
    case 'tokens':
      return { stack: m.stack, count: m.tokens.length, truncated: m.truncated };
    case 'chunk':
      return {
        type: m.chunk.type,
        stack: m.chunk.stack,
        layer: m.chunk.type === 'layer' ? m.chunk.layer : null,
        queryStart: m.queryStart,
        rows: m.chunk.hidden.shape[0],
      };
    case 'done':
      return { predictions: m.predictions, timings: m.timings };
    case 'rnn-row':
      return m.row;
    case 'rnn-done':
      return m.stop;
    case 'analysis':
      return { tool: m.result.tool, ms: m.ms };
    case 'error':
      return { code: m.code, message: m.message };
    case 'notice':
      return m.message;
  }
}

/** UI panels call this after painting data of run `id`. */
export function notePaint(id: number, panel: string): void {
  const h = handle();
  if (h) push(h.paints, { id, panel, at: performance.now() });
}
