/**
 * The main thread's side of the worker, `EngineClient`: what the page calls (load, run, generate,
 * and the other requests) and what it is told (`ClientMessage`s through its listener). The
 * worker decides what runs (a newer run stops an older one); the client only drops the messages
 * of requests that are no longer the latest, and keeps the engine alive:
 *
 * - A worker that crashes, loses its WebGL context or reports corrupt backend memory is replaced:
 *   the new one loads the model on screen (quietly) and re-runs the latest request under its own
 *   id, and `onMessage` gets a notice. After too many restarts in a minute it stops and offers
 *   a restart instead; so does a worker silent for `silenceMs` while a request waits for it.
 * - Chunks are passed on as the worker sent them: the store merges a generation step's rows into
 *   the trace it already holds (the trace is kept once, there).
 *
 * One owner per fact: this class owns which worker serves (and the timers that watch it);
 * `ModelLoads` (modelLoads.ts) which load is in progress and which is on screen (a load runs in
 * a second worker while a model is shown); `LatestRequests` (latestRequests.ts) which requests
 * are the latest, so whose messages pass and what a restart runs again. Making a worker is in
 * engineWorker.ts, the types in types.ts, the page's helpers that need no worker in page.ts,
 * the message types in src/workers/protocol.ts.
 */
import { eventDetail, messageId, recordDebugEvent, registerDebugClient } from './debug';
import { LatestRequests } from './latestRequests';
import { ModelLoads, type Loading } from './modelLoads';
import { describeSource } from './page';
import { ServingWorker } from './servingWorker';
import type {
  ClientMessage,
  EngineClientOptions,
  EngineListener,
  GenerateRequest,
  LoadRequest,
  RunOptions,
  RunRequest,
} from './types';
import type {
  AnalysisRequest,
  ErrorCode,
  Interventions,
  LayerRef,
  ModelSource,
  Response,
  RunInput,
  Sampling,
  TokenizerQuery,
} from '../workers/protocol';

export type { ClientMessage, EngineClientOptions, EngineListener, RunOptions } from './types';

const STOPPED = 'The engine stopped after repeated crashes: restart it.';

export class EngineClient {
  private readonly serving: ServingWorker;
  private nextId = 1;
  private readonly loads: ModelLoads;
  private readonly requests = new LatestRequests();
  private readonly debug: boolean;
  private readonly pageUrl: string;

  constructor(
    private readonly listener: EngineListener,
    options: EngineClientOptions = {},
  ) {
    this.debug = options.debugHandle ?? true;
    this.pageUrl = options.pageUrl ?? location.href;
    this.loads = new ModelLoads((request, ms) => this.stalled(request, ms), options.stallMs);
    if (this.debug) registerDebugClient(this);
    this.serving = new ServingWorker(options, this.pageUrl, {
      message: (worker, message) => this.receive(worker, message),
      crashed: (worker, reason) => this.crashed(worker, reason),
      waiting: () => this.requests.waiting,
      notice: (level, message, offerRestart) => this.notice(level, message, offerRestart),
    });
  }

  /** The worker serving the model on screen. */
  private get worker(): Worker {
    return this.serving.worker;
  }

  load(source: ModelSource): number {
    const request: LoadRequest = { type: 'load', id: this.nextId++, source };
    this.record('request', request.id, { type: 'load' });
    if (this.refuseStopped(request.id)) return request.id;
    this.stopLoading();
    // With no model on screen there is nothing to keep usable: load in the serving worker.
    const worker = this.loads.shown ? this.serving.start() : this.worker;
    if (!this.loads.shown) this.requests.forget();
    this.loads.start(request, worker, this.serving.isReady(worker));
    return request.id;
  }

  /** Stop the load in progress; the model on screen stays. */
  cancelLoad(): void {
    const request = this.loads.current;
    if (!request) return;
    this.record('request', request.id, { type: 'cancel-load' });
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
    this.record('request', request.id, { type: request.type });
    this.requests.startRun(request);
    if (this.refuseStopped(request.id) || this.refuseTooLong(request)) return request.id;
    this.serving.post(request);
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
    this.begin(request);
    if (this.refuseStopped(request.id)) return request.id;
    this.serving.post(request);
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
    this.requests.expect('analysis', id);
    this.record('request', id, { type: 'analyse', tool: analysis.tool });
    if (this.refuseStopped(id)) return id;
    this.serving.post({
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
    if (!this.requests.isLatestRun(run)) return;
    const id = this.nextId++;
    this.record('request', id, { type: 'detail', run, layer });
    this.serving.post({ type: 'detail', id, run, layer, captureQKV });
  }

  /** Ask the worker what the model cache holds (a `cache` message), emptying it first when `clear`. */
  modelCache(clear: boolean): void {
    const id = this.nextId++;
    this.requests.expect('cache', id);
    this.record('request', id, { type: 'model-cache', clear });
    this.serving.post({ type: 'model-cache', id, clear });
  }

  /** Time one RNN layer against one attention layer for n = 8 … maxN (`rnn-row`s, `rnn-done`). */
  measureRnnVsAttention(maxN: number, timeBoundMs: number): number {
    const id = this.nextId++;
    this.requests.expect('rnn', id);
    this.record('request', id, { type: 'rnn-vs-attention', maxN });
    this.serving.post({ type: 'rnn-vs-attention', id, maxN, timeBoundMs });
    return id;
  }

  /** Ask the model's tokenizer; the `tokenizer` answer comes with the returned id. */
  askTokenizer(query: TokenizerQuery): number {
    const id = this.nextId++;
    this.record('request', id, { type: 'tokenizer', kind: query.kind });
    this.serving.post({ type: 'tokenizer', id, query });
    return id;
  }

  /** Stop the run in flight; nothing more of it is passed on. */
  cancel(): void {
    const id = this.requests.cancel();
    if (id === null) return;
    this.record('request', id, { type: 'cancel' });
    this.serving.post({ type: 'cancel', id });
  }

  /** The user's "restart the engine": a new worker, the model on screen, the latest run again. */
  restart(): void {
    this.serving.resume();
    this.replaceWorker({ reason: null });
  }

  /** Tests: make the worker lose its WebGL context, which the client then recovers from. */
  loseContextForTesting(): void {
    this.serving.post({ type: 'debug-lose-context' });
  }

  dispose(): void {
    const worker = this.worker;
    this.serving.dispose();
    this.loads.end(worker);
  }

  /** `request` is the latest run now (asked for here, or run again after a restart). */
  private begin(request: RunRequest | GenerateRequest): void {
    this.record('request', request.id, { type: request.type });
    this.requests.start(request);
  }

  /** A message passed on after the caller has its id (a refusal made here, not by the worker). */
  private failSoon(id: number, code: ErrorCode, message: string): void {
    queueMicrotask(() => this.fail(id, code, message));
  }

  private refuseStopped(id: number): boolean {
    if (!this.serving.stopped) return false;
    this.failSoon(id, 'worker-crashed', STOPPED);
    return true;
  }

  /**
   * Ids are used as given (the protocol's promise), so ids longer than the context are refused
   * rather than cut: a caller that chose a length (the bench, the cost panel) must not silently
   * get another. Text is different: the worker cuts it and its `tokens` say so.
   */
  private refuseTooLong(request: RunRequest): boolean {
    const limit = this.loads.contextLength;
    const longest = Math.max(request.input.ids?.length ?? 0, request.input.sourceIds?.length ?? 0);
    if (limit === null || longest <= limit) return false;
    this.requests.closeRun();
    this.failSoon(
      request.id,
      'context-full',
      `${longest} token ids are more than this model reads (${limit}); ids are used as given, so nothing ran`,
    );
    return true;
  }

  /** A worker is gone: the loading one fails its load, the serving one is replaced. */
  private crashed(worker: Worker, reason: string): void {
    const loading = this.loads.in(worker);
    if (loading && worker !== this.worker) {
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
    if (!serving && !this.loads.in(worker)) return; // a replaced worker
    switch (message.type) {
      case 'backend':
        if (!this.loads.backendReady(worker, message.info, serving)) this.pass(message);
        return;
      case 'context-lost':
        this.crashed(worker, 'lost its WebGL context');
        return;
      case 'tokenizer':
        if (serving) this.pass(message);
        return;
      case 'cache':
        if (serving) this.requests.settle('cache');
        this.pass(message);
        return;
      case 'progress':
        if (!this.loads.progress(worker, message.id)) return;
        this.pass(message);
        return;
      case 'loaded': {
        const loaded = this.loads.loaded(worker, message.id, message.info, serving);
        if (loaded === 'reloaded') {
          this.record('reloaded', message.id, { name: message.info.name });
        } else if (loaded) {
          this.takeOver(loaded);
          this.pass(message);
        }
        return;
      }
      case 'tokens':
      case 'chunk':
      case 'done':
      case 'rnn-row':
      case 'rnn-done':
      case 'analysis': {
        const passed = serving ? this.requests.accept(message) : null;
        if (!passed) return;
        if (passed.type === 'done') this.serving.watch();
        this.pass(passed);
        return;
      }
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
    if (this.loads.isLoad(worker, id)) {
      this.loads.end(this.worker);
      this.pass(message);
      return;
    }
    if (worker !== this.worker) return;
    if (this.loads.reloadFailed(id)) {
      this.notice('error', `The model could not be loaded again: ${message.message}`, true);
      return;
    }
    if (this.requests.settleError(id)) this.serving.watch();
    else if (id !== 0) return;
    this.pass(message);
  }

  /** The loaded model is on screen now: its worker serves (the previous one is dropped). */
  private takeOver(loading: Loading): void {
    this.requests.forget();
    if (loading.worker === this.worker) return;
    this.serving.takeOver(loading.worker);
    this.requests.settle('cache');
    if (loading.backend) this.pass({ type: 'backend', info: loading.backend });
  }

  /** Abort the load in progress; a serving worker busy with it is replaced by a fresh one. */
  private stopLoading(): void {
    const loading = this.loads.end(this.worker);
    // The serving worker loads only when no model is on screen: a fresh one has nothing to reload.
    if (loading?.worker === this.worker) this.replaceWorker(null);
  }

  private stalled(request: LoadRequest, ms: number): void {
    this.stopLoading();
    const where = describeSource(request.source, this.pageUrl);
    this.fail(
      request.id,
      'fetch-failed',
      `No bytes from ${where} for ${Math.round(ms / 1000)} s: the load was stopped${this.loads.shown ? '; the model on screen is kept' : ''}.`,
    );
  }

  private pass(message: ClientMessage): void {
    this.record(message.type, messageId(message), eventDetail(message));
    this.listener(message);
  }

  private fail(id: number, code: ErrorCode, message: string): void {
    this.pass({ type: 'error', id, code, message });
  }

  private notice(level: 'info' | 'error', message: string, offerRestart: boolean): void {
    this.pass({ type: 'notice', level, message, offerRestart });
  }

  private record(event: string, id: number, detail: unknown): void {
    if (this.debug) recordDebugEvent(event, id, detail);
  }

  /**
   * A new serving worker with the model on screen loaded again (quietly) and the latest run run
   * again under its own id. `why.reason`: what happened to the worker (counted towards stopping),
   * null when the user asked; `why` null: a silent replacement (an aborted first load).
   */
  private replaceWorker(why: { reason: string | null } | null): void {
    const old = this.serving.replace(why?.reason ?? null);
    if (old === null) return;
    this.requests.settle('analysis'); // the store asks again once the re-run is done
    if (old === 'stopped') {
      const open = this.requests.closeOpenRun();
      if (open) this.fail(open.id, 'worker-crashed', STOPPED);
      return;
    }
    // A load in the serving worker (no model on screen yet) is lost with it and starts over.
    const reloading = this.loads.moveTo(old, this.worker);
    if (why) {
      const what = why.reason
        ? `The model worker ${why.reason}. Restarted it`
        : 'Restarted the engine';
      this.notice('info', `${what}${reloading ? ', reloading the model' : ''}.`, false);
    }
    const cache = this.requests.waitingFor('cache');
    if (cache !== null) this.worker.postMessage({ type: 'model-cache', id: cache, clear: false });
    // A measurement is not repeated on the new worker: it ends, saying why.
    const rnn = this.requests.waitingFor('rnn');
    if (rnn !== null) {
      this.requests.settle('rnn');
      this.pass({ type: 'rnn-done', id: rnn, stop: 'the engine restarted' });
    }
    const rerun = this.requests.rerun();
    if (rerun) {
      this.begin(rerun);
      this.worker.postMessage(rerun);
    }
    this.serving.watch();
  }
}
