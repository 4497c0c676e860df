/**
 * The page's side of the engine, as its callers and its parts see it: what the client passes on
 * (`ClientMessage`), how a run is asked for (`RunOptions`), how a client is made
 * (`EngineClientOptions`), and the requests the client's parts keep. The message types themselves
 * are in src/workers/protocol.ts.
 */
import type { BackendName, LayerRef, LogitRows, Request, Response } from '../workers/protocol';

/**
 * What the client passes on: the worker's responses that belong to the latest requests, in the
 * worker's order, and notices of its own (a restart, a silent worker). `offerRestart`: the engine
 * is stopped or stuck and only `restart()` brings it back.
 */
export type ClientMessage =
  | Exclude<Response, { type: 'context-lost' }>
  | { type: 'notice'; level: 'info' | 'error'; message: string; offerRestart: boolean };

export type EngineListener = (message: ClientMessage) => void;

export interface RunOptions {
  captureQKV: boolean;
  topK: number;
  logits?: LogitRows;
  /** `false`: predictions only, no chunks (unmodified model); see the `run` request. */
  trace?: boolean;
  /** The layer shown in full when the input is long; see the `run` request. */
  detail?: LayerRef;
}

export interface EngineClientOptions {
  /** Makes the worker; tests pass a fake. Default: the bundled `engine.worker.ts`. */
  workerFactory?: () => Worker;
  /** Backend to try first (`?backend=` in the app, tests, the bench). */
  backend?: BackendName;
  /** wasm threads when cross-origin isolated (`?threads=`); default one per core, at most 4. */
  threads?: number;
  /** Page URL that shipped models are found relative to. Default: `location.href`. */
  pageUrl?: string;
  /**
   * Give the worker a canvas made here. Safari's workers cannot create a WebGL2 OffscreenCanvas;
   * `auto` does it only there.
   */
  pageCanvas?: boolean | 'auto';
  /** Put this client on `window.__attentionLab` for the e2e tests and the bench (default true). */
  debugHandle?: boolean;
  /** A load with no progress for this long fails as stalled (default STALL_MS). */
  stallMs?: number;
  /** A worker silent this long while a request waits is reported as stuck (default SILENCE_MS). */
  silenceMs?: number;
}

export type LoadRequest = Extract<Request, { type: 'load' }>;
export type RunRequest = Extract<Request, { type: 'run' }>;
export type GenerateRequest = Extract<Request, { type: 'generate' }>;
