/**
 * Which requests the page still waits for: the one owner of "the latest". The worker decides what
 * runs (a newer run stops an older one); the client passes on only the messages of the latest
 * run or generate, analysis, RNN measurement and model-cache request, and a restarted worker
 * runs the latest run again: a generated sequence from its tokens, since the new worker has no
 * session to continue. Plain state, no worker: client.ts asks and posts.
 */
import type { Stack } from '../model/trace';
import type { Response, Timings } from '../workers/protocol';
import type { GenerateRequest, RunRequest } from './types';

/** Requests of which only the latest is answered, each waiting for one answer. */
export type Awaited = 'analysis' | 'rnn' | 'cache';

/** The worker's answers to a run or generate, an RNN measurement and an analysis. */
export type LatestAnswer = Extract<
  Response,
  { type: 'tokens' | 'chunk' | 'done' | 'rnn-row' | 'rnn-done' | 'analysis' }
>;

export class LatestRequests {
  /** The latest run: its messages pass, and a restart runs it again. */
  private latest: RunRequest | GenerateRequest | null = null;
  /** Whether the latest run still waits for its `done` or `error`. */
  private open = false;
  /** The run a generation extends, and the tokens since: a restart re-runs from them. */
  private lastRun: RunRequest | null = null;
  private tokens: Partial<Record<Stack, number[]>> = {};
  /** Delivery delay (page clock minus `sentAt`) of the latest run's chunks so far. */
  private deliveryMs = 0;
  private awaited: Record<Awaited, number | null> = { analysis: null, rnn: null, cache: null };

  /** `request` is now the latest run (a generate, or a run again after a restart). */
  start(request: RunRequest | GenerateRequest): void {
    this.latest = request;
    this.open = true;
    this.deliveryMs = 0;
  }

  /** A new run from the page: what later generations extend. */
  startRun(request: RunRequest): void {
    this.start(request);
    this.lastRun = request;
    this.tokens = {};
  }

  /** No run is latest (a new model): nothing to pass on or re-run. */
  forget(): void {
    this.latest = null;
    this.open = false;
    this.lastRun = null;
    this.tokens = {};
  }

  isLatestRun(id: number): boolean {
    return this.latest?.id === id;
  }

  get latestRun(): RunRequest | GenerateRequest | null {
    return this.latest;
  }

  get runOpen(): boolean {
    return this.open;
  }

  /** The latest run has answered (or was refused): it no longer keeps the worker watched. */
  closeRun(): void {
    this.open = false;
  }

  /** Stop waiting for the latest run; returns it if it was still open. */
  closeOpenRun(): RunRequest | GenerateRequest | null {
    const open = this.open ? this.latest : null;
    this.open = false;
    return open;
  }

  /** Cancel the latest run: nothing more of it passes. Returns its id, null when none. */
  cancel(): number | null {
    const id = this.latest?.id ?? null;
    this.latest = null;
    this.open = false;
    return id;
  }

  /**
   * `message` as passed on when it answers a latest request, null when it is stale; noted: the
   * run's tokens (a restart re-runs a generated sequence from them), its chunks' delivery delay
   * (page clock minus `sentAt`, added to `done`'s `transferMs`), and what an answer settles.
   */
  accept(message: LatestAnswer): LatestAnswer | null {
    switch (message.type) {
      case 'tokens':
        if (!this.isLatestRun(message.id)) return null;
        this.tokens[message.stack] = message.tokens.map((t) => t.id);
        return message;
      case 'chunk':
        if (!this.isLatestRun(message.id)) return null;
        this.deliveryMs += Math.max(0, performance.timeOrigin + performance.now() - message.sentAt);
        return message;
      case 'done':
        if (!this.isLatestRun(message.id)) return null;
        this.open = false;
        return { ...message, timings: this.withDelivery(message.timings) };
      case 'rnn-row':
        return message.id === this.awaited.rnn ? message : null;
      case 'rnn-done':
      case 'analysis': {
        const kind = message.type === 'analysis' ? 'analysis' : 'rnn';
        if (message.id !== this.awaited[kind]) return null;
        this.awaited[kind] = null;
        return message;
      }
    }
  }

  private withDelivery(timings: Timings): Timings {
    return { ...timings, transferMs: timings.transferMs + this.deliveryMs };
  }

  /** The latest run as a plain run: a generated sequence is re-run from its tokens. */
  rerun(): RunRequest | null {
    const latest = this.latest;
    if (!latest) return null;
    if (latest.type === 'run') return latest;
    const decoder = this.tokens.decoder;
    if (!decoder || !this.lastRun) return null;
    return {
      ...this.lastRun,
      id: latest.id,
      input: { ids: decoder, ...(this.tokens.encoder ? { sourceIds: this.tokens.encoder } : {}) },
      interventions: latest.interventions,
      captureQKV: latest.captureQKV,
      topK: latest.topK,
    };
  }

  /** `id` is now the latest request of its kind; an earlier one's answer no longer passes. */
  expect(kind: Awaited, id: number): void {
    this.awaited[kind] = id;
  }

  /** The request of `kind` still waiting, if any. */
  waitingFor(kind: Awaited): number | null {
    return this.awaited[kind];
  }

  /** The request of `kind` is answered, or forgotten. */
  settle(kind: Awaited): void {
    this.awaited[kind] = null;
  }

  /** An error for `id`: settles the request it answers; false when it answers none waited for. */
  settleError(id: number): boolean {
    if (this.isLatestRun(id)) {
      this.open = false;
      return true;
    }
    const kind = (Object.keys(this.awaited) as Awaited[]).find((k) => this.awaited[k] === id);
    if (kind === undefined) return false;
    this.awaited[kind] = null;
    return true;
  }

  /** Whether the worker owes an answer (what the silence timer watches, with `init`). */
  get waiting(): boolean {
    return this.open || this.awaited.cache !== null;
  }
}
