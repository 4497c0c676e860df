/**
 * The main thread's side of the worker. The worker decides what runs (a newer run stops an older
 * one); the client only drops the messages of requests that are no longer the latest, and keeps
 * the engine alive:
 *
 * - A model loads in a second worker while one is on screen, so the model on screen stays usable
 *   meanwhile, a failed or cancelled load costs nothing (its worker is dropped), and a load that
 *   receives no bytes for `stallMs` fails with a message naming where it was reading from.
 * - A worker that crashes, loses its WebGL context or reports corrupt backend memory is replaced:
 *   the new one loads the model on screen (quietly) and re-runs the latest request under its own
 *   id, and `onMessage` gets a notice. After MAX_RESTARTS in RESTART_WINDOW_MS it stops and offers
 *   a restart instead; so does a worker silent for `silenceMs` while a request waits for it.
 *
 * Chunks are passed on as the worker sent them: the store merges a generation step's rows into
 * the trace it already holds (the trace is kept once, there).
 *
 * Why one file of ~700 lines: every method reads the same few facts (which worker answers,
 * which request is the latest, which load is on screen), and the restart, load-worker and timer
 * paths each change them together; split apart, that one invariant would live in several files.
 * What grew it are the request methods (analyse, detail, tokenizer, RNN timing, model cache): each
 * a few lines that take an id, note it as the latest of its kind and post, so they read that same
 * state. Moving them out would mean a second class reaching into this one's fields. The page's
 * helpers that need no worker are in page.ts; the message types are in src/workers/protocol.ts.
 */
import type { Stack } from '../model/trace';
import { recordDebugEvent, registerDebugClient } from './debug';
import { describeSource } from './page';
import type {
  AnalysisRequest,
  BackendInfo,
  BackendName,
  ErrorCode,
  Interventions,
  LayerRef,
  LogitRows,
  ModelSource,
  Request,
  Response,
  RunInput,
  Sampling,
  TokenizerQuery,
} from '../workers/protocol';

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

/** More restarts than this within RESTART_WINDOW_MS and the client stops, offering a restart. */
const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 60_000;
/**
 * Downloads report progress every few kB; a minute without any is a stalled server. The clock
 * starts once the worker has its backend: starting WebGL on a busy machine takes tens of seconds.
 */
const STALL_MS = 60_000;
/**
 * Generous: a bare forward posts nothing between its `tokens` and its `done`, and GPT-2 small at
 * its full context on the cpu backend takes tens of seconds (docs/performance.md).
 */
const SILENCE_MS = 120_000;

type LoadRequest = Extract<Request, { type: 'load' }>;
type RunRequest = Extract<Request, { type: 'run' }>;
type GenerateRequest = Extract<Request, { type: 'generate' }>;

/** A load in progress and the worker doing it (the serving worker when no model is on screen). */
interface Loading {
  request: LoadRequest;
  worker: Worker;
  /** The loading worker's backend, passed on when it takes over. */
  backend: BackendInfo | null;
  /** Armed once the worker has its backend, re-armed by each progress message. */
  stall: ReturnType<typeof setTimeout> | undefined;
}

function defaultWorker(): Worker {
  return new Worker(new URL('../workers/engine.worker.ts', import.meta.url), { type: 'module' });
}

function isSafari(): boolean {
  return /Safari/.test(navigator.userAgent) && /Apple/.test(navigator.vendor);
}

export class EngineClient {
  private worker!: Worker;
  private nextId = 1;
  private loading: Loading | null = null;
  /** The load whose model is on screen: what a restart loads again. */
  private shown: LoadRequest | null = null;
  /** Context length of the model on screen: longer ids are refused, not cut. */
  private contextLength: number | null = null;
  /** The load repeated after a restart: its `loaded` is not passed on (the UI has the model). */
  private quietLoad: number | null = null;
  /** The latest run: its messages pass, and a restart runs it again. */
  private latestRun: RunRequest | GenerateRequest | null = null;
  /** Whether the latest run still waits for its `done` or `error`. */
  private runOpen = false;
  /** The run a generation extends, and the tokens since: a restart re-runs from them. */
  private lastRun: RunRequest | null = null;
  private tokens: Partial<Record<Stack, number[]>> = {};
  /** The RNN-vs-attention measurement while it waits for its `rnn-done`. */
  private rnnRequest: number | null = null;
  /** The latest `analyse` request while it waits for its answer (a newer one replaces it). */
  private analysisRequest: number | null = null;
  /** The latest `model-cache` request while it waits for its answer. */
  private cacheRequest: number | null = null;
  private initOpen = false;
  private silence: ReturnType<typeof setTimeout> | undefined;
  private deliveryMs = 0;
  private restarts: number[] = [];
  /** Set after too many crashes: requests fail at once until `restart()`. */
  private stopped = false;
  private disposed = false;
  /** Workers that have reported their backend (and so can make progress on a load). */
  private readonly ready = new WeakSet<Worker>();
  private readonly debug: boolean;
  private readonly pageUrl: string;

  constructor(
    private readonly listener: EngineListener,
    private readonly options: EngineClientOptions = {},
  ) {
    this.debug = options.debugHandle ?? true;
    this.pageUrl = options.pageUrl ?? location.href;
    if (this.debug) registerDebugClient(this);
    this.worker = this.startWorker();
    this.initOpen = true;
  }

  load(source: ModelSource): number {
    const request: LoadRequest = { type: 'load', id: this.nextId++, source };
    this.record('request', request.id, { type: 'load' });
    if (this.refuseStopped(request.id)) return request.id;
    this.stopLoading();
    // With no model on screen there is nothing to keep usable: load in the serving worker.
    const worker = this.shown ? this.startWorker() : this.worker;
    const stall = this.ready.has(worker) ? this.stallTimer(request) : undefined;
    this.loading = { request, worker, backend: null, stall };
    if (!this.shown) this.forgetRun();
    worker.postMessage(request);
    return request.id;
  }

  /** Stop the load in progress; the model on screen stays. */
  cancelLoad(): void {
    const loading = this.loading;
    if (!loading) return;
    this.record('request', loading.request.id, { type: 'cancel-load' });
    this.stopLoading();
  }

  run(input: RunInput, interventions: Interventions, options: RunOptions): number {
    const request: RunRequest = {
      type: 'run',
      id: this.nextId++,
      input,
      interventions,
      captureQKV: options.captureQKV,
      topK: options.topK,
      ...(options.logits ? { logits: options.logits } : {}),
      ...(options.trace === false ? { trace: false } : {}),
      ...(options.detail ? { detail: options.detail } : {}),
    };
    this.beginRun(request);
    this.lastRun = request;
    this.tokens = {};
    if (this.refuseStopped(request.id) || this.refuseTooLong(request)) return request.id;
    this.post(request);
    return request.id;
  }

  /**
   * Append a next token (the most likely, or drawn as `sampling` says) and run again; only the
   * new row is computed.
   */
  generate(
    interventions: Interventions,
    options: Omit<RunOptions, 'logits'>,
    sampling?: Sampling,
  ): number {
    const request: GenerateRequest = {
      type: 'generate',
      id: this.nextId++,
      interventions,
      captureQKV: options.captureQKV,
      topK: options.topK,
      ...(sampling ? { sampling } : {}),
      ...(options.detail ? { detail: options.detail } : {}),
    };
    this.beginRun(request);
    if (this.refuseStopped(request.id)) return request.id;
    this.post(request);
    return request.id;
  }

  /**
   * Run one interpretability tool on `input` under `interventions` (default none: the unmodified
   * model); the answer is an `analysis` message, or an `error`. Only the latest analysis is
   * passed on; any newer request to the worker (a run, a load) stops it, and a restarted worker
   * forgets it.
   */
  analyse(input: RunInput, analysis: AnalysisRequest, interventions?: Interventions): number {
    const id = this.nextId++;
    this.analysisRequest = id;
    this.record('request', id, { type: 'analyse', tool: analysis.tool });
    if (this.refuseStopped(id)) return id;
    this.post({
      type: 'analyse',
      id,
      input,
      analysis,
      ...(interventions ? { interventions } : {}),
    });
    return id;
  }

  /**
   * The exact attention of `layer` of the latest run, which came as summaries (a long input): it
   * arrives as a `chunk` of that run. Nothing comes once a newer run has started.
   */
  detail(run: number, layer: LayerRef, captureQKV: boolean): void {
    if (!this.isLatestRun(run)) return;
    const id = this.nextId++;
    this.record('request', id, { type: 'detail', run, layer });
    this.post({ type: 'detail', id, run, layer, captureQKV });
  }

  /** Ask the worker what the model cache holds (a `cache` message), emptying it first when `clear`. */
  modelCache(clear: boolean): void {
    const id = this.nextId++;
    this.cacheRequest = id;
    this.record('request', id, { type: 'model-cache', clear });
    this.post({ type: 'model-cache', id, clear });
  }

  /** Time one RNN layer against one attention layer for n = 8 … maxN (`rnn-row`s, `rnn-done`). */
  measureRnnVsAttention(maxN: number, timeBoundMs: number): number {
    const id = this.nextId++;
    this.rnnRequest = id;
    this.record('request', id, { type: 'rnn-vs-attention', maxN });
    this.post({ type: 'rnn-vs-attention', id, maxN, timeBoundMs });
    return id;
  }

  /** Ask the model's tokenizer; the `tokenizer` answer comes with the returned id. */
  askTokenizer(query: TokenizerQuery): number {
    const id = this.nextId++;
    this.record('request', id, { type: 'tokenizer', kind: query.kind });
    this.post({ type: 'tokenizer', id, query });
    return id;
  }

  /** Stop the run in flight; nothing more of it is passed on. */
  cancel(): void {
    if (!this.latestRun) return;
    this.record('request', this.latestRun.id, { type: 'cancel' });
    this.post({ type: 'cancel', id: this.latestRun.id });
    this.latestRun = null;
    this.runOpen = false;
    this.watch();
  }

  /** The user's "restart the engine": a new worker, the model on screen, the latest run again. */
  restart(): void {
    this.restarts = [];
    this.stopped = false;
    this.replaceWorker({ reason: null });
  }

  /** Tests: make the worker lose its WebGL context, which the client then recovers from. */
  loseContextForTesting(): void {
    this.post({ type: 'debug-lose-context' });
  }

  dispose(): void {
    this.disposed = true;
    this.stopLoading();
    clearTimeout(this.silence);
    this.worker.terminate();
  }

  private beginRun(request: RunRequest | GenerateRequest): void {
    this.record('request', request.id, { type: request.type });
    this.latestRun = request;
    this.runOpen = true;
    this.deliveryMs = 0;
  }

  private forgetRun(): void {
    this.latestRun = null;
    this.runOpen = false;
    this.lastRun = null;
    this.tokens = {};
  }

  private post(request: Request, transfer: Transferable[] = []): void {
    this.worker.postMessage(request, transfer);
    this.watch();
  }

  /** A message passed on after the caller has its id (a refusal made here, not by the worker). */
  private failSoon(id: number, code: ErrorCode, message: string): void {
    queueMicrotask(() => this.fail(id, code, message));
  }

  private refuseStopped(id: number): boolean {
    if (!this.stopped) return false;
    this.failSoon(id, 'worker-crashed', 'The engine stopped after repeated crashes: restart it.');
    return true;
  }

  /**
   * Ids are used as given (the protocol's promise), so ids longer than the context are refused
   * rather than cut: a caller that chose a length (the bench, the cost panel) must not silently
   * get another. Text is different: the worker cuts it and its `tokens` say so.
   */
  private refuseTooLong(request: RunRequest): boolean {
    const limit = this.contextLength;
    const longest = Math.max(request.input.ids?.length ?? 0, request.input.sourceIds?.length ?? 0);
    if (limit === null || longest <= limit) return false;
    this.runOpen = false;
    this.failSoon(
      request.id,
      'context-full',
      `${longest} token ids are more than this model reads (${limit}); ids are used as given, so nothing ran`,
    );
    return true;
  }

  private startWorker(): Worker {
    const worker = (this.options.workerFactory ?? defaultWorker)();
    worker.onmessage = (event: MessageEvent<Response>) => this.receive(worker, event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.crashed(worker, `crashed (${event.message || 'no message'})`);
    };
    const wantCanvas = this.options.pageCanvas ?? 'auto';
    const canvas =
      typeof document !== 'undefined' && (wantCanvas === 'auto' ? isSafari() : wantCanvas)
        ? document.createElement('canvas').transferControlToOffscreen()
        : undefined;
    const init: Request = {
      type: 'init',
      pageUrl: this.pageUrl,
      ...(this.options.backend ? { backend: this.options.backend } : {}),
      ...(this.options.threads ? { threads: this.options.threads } : {}),
      ...(canvas ? { canvas } : {}),
    };
    worker.postMessage(init, canvas ? [canvas] : []);
    return worker;
  }

  /** A worker is gone: the loading one fails its load, the serving one is replaced. */
  private crashed(worker: Worker, reason: string): void {
    const loading = this.loading;
    if (loading && worker === loading.worker && worker !== this.worker) {
      this.stopLoading();
      this.fail(
        loading.request.id,
        'worker-crashed',
        `The model worker ${reason} while loading; the model on screen is kept.`,
      );
    } else if (worker === this.worker) {
      this.replaceWorker({ reason });
    }
  }

  private receive(worker: Worker, message: Response): void {
    const serving = worker === this.worker;
    const loading = this.loading?.worker === worker ? this.loading : null;
    if (!serving && !loading) return; // a replaced worker
    if (serving) this.watch();
    switch (message.type) {
      case 'backend':
        this.ready.add(worker);
        if (serving) this.initOpen = false;
        if (loading && loading.stall === undefined)
          loading.stall = this.stallTimer(loading.request);
        if (loading && !serving) loading.backend = message.info;
        else this.pass(message, 0, message.info);
        return;
      case 'context-lost':
        this.crashed(worker, 'lost its WebGL context');
        return;
      case 'tokenizer':
        if (serving) this.pass(message, message.id, { kind: message.answer.kind });
        return;
      case 'cache':
        if (serving) this.cacheRequest = null;
        this.pass(message, 0, message.usage);
        return;
      case 'progress':
        if (loading?.request.id !== message.id) return;
        clearTimeout(loading.stall);
        loading.stall = this.stallTimer(loading.request);
        this.pass(message, message.id, { stage: message.stage, loaded: message.loaded });
        return;
      case 'loaded':
        if (serving && message.id === this.quietLoad) {
          this.quietLoad = null;
          this.record('reloaded', message.id, { name: message.info.name });
        } else if (loading?.request.id === message.id) {
          this.takeOver(loading);
          this.contextLength = message.info.config.contextLength;
          this.pass(message, message.id, {
            name: message.info.name,
            config: message.info.config,
          });
        }
        return;
      case 'tokens':
        if (!serving || !this.isLatestRun(message.id)) return;
        this.tokens[message.stack] = message.tokens.map((t) => t.id);
        this.pass(message, message.id, {
          stack: message.stack,
          count: message.tokens.length,
          truncated: message.truncated,
        });
        return;
      case 'chunk':
        if (serving && this.isLatestRun(message.id)) this.receiveChunk(message);
        return;
      case 'done': {
        if (!serving || !this.isLatestRun(message.id)) return;
        this.runOpen = false;
        this.watch();
        const timings = {
          ...message.timings,
          transferMs: message.timings.transferMs + this.deliveryMs,
        };
        this.pass({ ...message, timings }, message.id, {
          predictions: message.predictions,
          timings,
        });
        return;
      }
      case 'rnn-row':
      case 'rnn-done':
        if (!serving || message.id !== this.rnnRequest) return;
        if (message.type === 'rnn-done') this.rnnRequest = null;
        this.pass(message, message.id, message.type === 'rnn-row' ? message.row : message.stop);
        return;
      case 'analysis':
        if (!serving || message.id !== this.analysisRequest) return;
        this.analysisRequest = null;
        this.pass(message, message.id, { tool: message.result.tool, ms: message.ms });
        return;
      case 'error':
        this.receiveError(worker, message);
        return;
    }
  }

  private receiveError(worker: Worker, message: Extract<Response, { type: 'error' }>): void {
    const { id, code } = message;
    if (code === 'backend-corrupt') {
      // The backend's memory is gone (wasm out of bounds): every later request would fail too.
      this.crashed(worker, `reported a corrupt backend (${message.message})`);
      return;
    }
    if (this.loading?.request.id === id && this.loading.worker === worker) {
      this.endLoad();
      this.pass(message, id, { code, message: message.message });
      return;
    }
    if (worker !== this.worker) return;
    if (id === this.quietLoad) {
      this.quietLoad = null;
      this.shown = null;
      this.contextLength = null;
      this.notice('error', `The model could not be loaded again: ${message.message}`, true);
      return;
    }
    if (this.isLatestRun(id)) {
      this.runOpen = false;
      this.watch();
    } else if (id === this.cacheRequest) {
      this.cacheRequest = null;
    } else if (id === this.rnnRequest) {
      this.rnnRequest = null;
    } else if (id === this.analysisRequest) {
      this.analysisRequest = null;
    } else if (id !== 0) {
      return;
    }
    this.pass(message, id, { code, message: message.message });
  }

  /** The loaded model is on screen now: its worker serves (the previous one is dropped). */
  private takeOver(loading: Loading): void {
    clearTimeout(loading.stall);
    this.loading = null;
    this.shown = loading.request;
    this.forgetRun();
    if (loading.worker !== this.worker) {
      this.worker.terminate();
      this.worker = loading.worker;
      this.initOpen = false;
      this.cacheRequest = null;
      if (loading.backend)
        this.pass({ type: 'backend', info: loading.backend }, 0, loading.backend);
    }
  }

  /** Forget the load in progress (it failed); a worker of its own goes with it. */
  private endLoad(): Loading | null {
    const loading = this.loading;
    if (!loading) return null;
    clearTimeout(loading.stall);
    this.loading = null;
    if (loading.worker !== this.worker) loading.worker.terminate();
    return loading;
  }

  /** Abort the load in progress; a serving worker busy with it is replaced by a fresh one. */
  private stopLoading(): void {
    const loading = this.endLoad();
    // The serving worker loads only when no model is on screen: a fresh one has nothing to reload.
    if (loading?.worker === this.worker && !this.disposed) this.replaceWorker(null);
  }

  private stallTimer(request: LoadRequest): ReturnType<typeof setTimeout> {
    const ms = this.options.stallMs ?? STALL_MS;
    return setTimeout(() => {
      if (this.loading?.request !== request) return;
      this.stopLoading();
      const where = describeSource(request.source, this.pageUrl);
      this.fail(
        request.id,
        'fetch-failed',
        `No bytes from ${where} for ${Math.round(ms / 1000)} s: the load was stopped${this.shown ? '; the model on screen is kept' : ''}.`,
      );
    }, ms);
  }

  /** (Re)arm the silence timer while the serving worker owes an answer; disarm it otherwise. */
  private watch(): void {
    clearTimeout(this.silence);
    const waiting = this.initOpen || this.runOpen || this.cacheRequest !== null;
    if (!waiting || this.disposed || this.stopped) return;
    const ms = this.options.silenceMs ?? SILENCE_MS;
    this.silence = setTimeout(() => {
      this.notice(
        'error',
        `The model worker has not answered for ${Math.round(ms / 1000)} s: it may have stopped.`,
        true,
      );
    }, ms);
  }

  private isLatestRun(id: number): boolean {
    return this.latestRun?.id === id;
  }

  private pass(message: ClientMessage, id: number, detail: unknown): void {
    this.record(message.type, id, detail);
    this.listener(message);
  }

  private fail(id: number, code: ErrorCode, message: string): void {
    this.pass({ type: 'error', id, code, message }, id, { code, message });
  }

  private notice(level: 'info' | 'error', message: string, offerRestart: boolean): void {
    this.pass({ type: 'notice', level, message, offerRestart }, 0, message);
  }

  private record(event: string, id: number, detail: unknown): void {
    if (this.debug) recordDebugEvent(event, id, detail);
  }

  private receiveChunk(message: Extract<Response, { type: 'chunk' }>): void {
    this.deliveryMs += Math.max(0, performance.timeOrigin + performance.now() - message.sentAt);
    const { chunk } = message;
    this.pass(message, message.id, {
      type: chunk.type,
      stack: chunk.stack,
      layer: chunk.type === 'layer' ? chunk.layer : null,
      queryStart: message.queryStart,
      rows: chunk.hidden.shape[0],
    });
  }

  /**
   * A new serving worker with the model on screen loaded again (quietly) and the latest run run
   * again under its own id. `why.reason`: what happened to the worker (counted towards stopping),
   * null when the user asked; `why` null: a silent replacement (an aborted first load).
   */
  private replaceWorker(why: { reason: string | null } | null): void {
    if (this.disposed) return;
    clearTimeout(this.silence);
    this.worker.terminate();
    this.analysisRequest = null; // the store asks again once the re-run is done
    if (why?.reason && this.countRestart()) {
      this.stopped = true;
      const times = `${this.restarts.length} times in a minute`;
      this.notice('error', `The model worker ${why.reason} ${times}, so it was stopped.`, true);
      const open = this.runOpen ? this.latestRun : null;
      this.runOpen = false;
      if (open)
        this.fail(
          open.id,
          'worker-crashed',
          'The engine stopped after repeated crashes: restart it.',
        );
      return;
    }
    // A load in the serving worker (no model on screen yet) is lost with it and starts over.
    const loading = this.loading?.worker === this.worker ? this.loading : null;
    this.worker = this.startWorker();
    this.initOpen = true;
    if (why) {
      const reloading = this.shown || loading ? ', reloading the model' : '';
      const what = why.reason
        ? `The model worker ${why.reason}. Restarted it`
        : 'Restarted the engine';
      this.notice('info', `${what}${reloading}.`, false);
    }
    if (loading) {
      loading.worker = this.worker;
      clearTimeout(loading.stall);
      loading.stall = undefined; // until the new worker has its backend
      this.worker.postMessage(loading.request);
    } else if (this.shown) {
      this.quietLoad = this.shown.id;
      this.worker.postMessage(this.shown);
    }
    if (this.cacheRequest !== null) {
      this.worker.postMessage({ type: 'model-cache', id: this.cacheRequest, clear: false });
    }
    // A measurement is not repeated on the new worker: it ends, saying why.
    if (this.rnnRequest !== null) {
      const id = this.rnnRequest;
      this.rnnRequest = null;
      this.pass({ type: 'rnn-done', id, stop: 'the engine restarted' }, id, null);
    }
    const rerun = this.rerunRequest();
    if (rerun) {
      this.beginRun(rerun);
      this.worker.postMessage(rerun);
    }
    this.watch();
  }

  /** Counts a restart; true when there were too many within the window. */
  private countRestart(): boolean {
    const t = Date.now();
    this.restarts = this.restarts.filter((r) => t - r < RESTART_WINDOW_MS);
    this.restarts.push(t);
    return this.restarts.length > MAX_RESTARTS;
  }

  /** The latest run as a plain run: a generated sequence is re-run from its tokens. */
  private rerunRequest(): RunRequest | null {
    const latest = this.latestRun;
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
}
