/**
 * The main thread's side of the worker: sends requests, and passes on only what belongs to the
 * latest load and the latest run, so a superseded chunk never reaches the store. When the worker
 * crashes or loses its WebGL context it starts a new one, reloads the model (quietly, when the
 * UI already has it), re-runs the last request under its own id, and says so through `onNotice`.
 */
import type { Stack, TraceChunk } from '../model/trace';
import { recordDebugEvent, registerDebugClient } from './debug';
import { chunkKey, mergeStep } from './mergeStep';
import type {
  BackendInfo,
  BackendName,
  CacheUsage,
  ErrorCode,
  Interventions,
  LogitRows,
  ModelIndex,
  ModelInfo,
  ModelSource,
  Prediction,
  Request,
  Response,
  RunInput,
  Timings,
  TokenInfo,
} from './protocol';

export interface EngineEvents {
  onBackend?(info: BackendInfo): void;
  onProgress?(progress: { id: number; stage: string; loaded: number; total: number }): void;
  onLoaded?(info: ModelInfo, id: number): void;
  onTokens?(id: number, stack: Stack, tokens: TokenInfo[], truncated: boolean): void;
  /** Always a whole chunk: the rows of a cached generation step are merged in first. */
  onChunk?(id: number, chunk: TraceChunk): void;
  onDone?(id: number, predictions: Prediction[], timings: Timings): void;
  onError?(id: number, code: ErrorCode, message: string): void;
  /** Something the user should see that is not an error of their request (a worker restart). */
  onNotice?(message: string): void;
  /** What the model cache holds: after `modelCache()` and after loads from the Hub or a URL. */
  onCache?(usage: CacheUsage): void;
}

export interface EngineClientOptions {
  /** Makes the worker; tests pass a fake. Default: the bundled `engine.worker.ts`. */
  workerFactory?: () => Worker;
  /** Backend to try first (`?backend=` in the app, tests, the bench). */
  backend?: BackendName;
  /** Page URL that shipped models are found relative to. Default: `location.href`. */
  pageUrl?: string;
  /**
   * Give the worker a canvas made here. Safari's workers cannot create a WebGL2 OffscreenCanvas;
   * `auto` does it only there.
   */
  pageCanvas?: boolean | 'auto';
  /** Put this client on `window.__attentionLab` for the e2e tests and the bench (default true). */
  debugHandle?: boolean;
}

export interface RunOptions {
  captureQKV: boolean;
  topK: number;
  logits?: LogitRows;
  /** `false`: predictions only, no chunks (unmodified model); see the `run` request. */
  trace?: boolean;
}

/** More restarts than this within RESTART_WINDOW_MS and the client gives up. */
const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 60_000;

type RunRequest = Extract<Request, { type: 'run' }>;
type GenerateRequest = Extract<Request, { type: 'generate' }>;

function defaultWorker(): Worker {
  return new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' });
}

function isSafari(): boolean {
  return /Safari/.test(navigator.userAgent) && /Apple/.test(navigator.vendor);
}

/** The backend named by `?backend=` in a page URL, if it is one. */
export function backendFromUrl(url: string): BackendName | undefined {
  const value = new URL(url).searchParams.get('backend');
  return value === 'webgl' || value === 'wasm' || value === 'cpu' || value === 'webgpu'
    ? value
    : undefined;
}

/** Read and check `models/index.json` next to the page. */
export async function fetchModelIndex(pageUrl: string = location.href): Promise<ModelIndex> {
  const url = new URL('models/index.json', pageUrl);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.href}: HTTP ${response.status}`);
  const index = (await response.json()) as ModelIndex;
  if (
    typeof index.default !== 'string' ||
    !Array.isArray(index.models) ||
    !index.models.some((m) => m.name === index.default)
  ) {
    throw new Error('models/index.json must list its default model among "models"');
  }
  return index;
}

export class EngineClient {
  private worker!: Worker;
  private nextId = 1;
  private latestLoad: Extract<Request, { type: 'load' }> | null = null;
  /** The run whose messages pass, and what to re-run after a restart. */
  private latestRun: RunRequest | GenerateRequest | null = null;
  /** Its last full chunks, which the rows of a cached generation step extend. */
  private chunks = new Map<string, TraceChunk>();
  /** Tokens of the latest run per stack: a restart re-runs a generated sequence from them. */
  private tokens: Partial<Record<Stack, number[]>> = {};
  /** The run a generation extends, kept for its interventions-independent input. */
  private lastRun: RunRequest | null = null;
  private deliveryMs = 0;
  private restarts: number[] = [];
  /** The load whose model the UI has (its `loaded` was passed on). */
  private loadedId: number | null = null;
  /**
   * A load repeated after a restart for a model the UI already shows: its progress and `loaded`
   * are not passed on, so the screen keeps its state instead of starting over.
   */
  private quietLoad: number | null = null;
  private disposed = false;
  /** The latest `model-cache` request, whose error (Cache Storage refused) is passed on. */
  private cacheRequest: number | null = null;
  private readonly debug: boolean;

  constructor(
    private readonly events: EngineEvents,
    private readonly options: EngineClientOptions = {},
  ) {
    this.debug = options.debugHandle ?? true;
    if (this.debug) registerDebugClient(this);
    this.startWorker();
  }

  load(source: ModelSource): number {
    const request = { type: 'load', id: this.nextId++, source } as const;
    this.latestLoad = request;
    this.record('request', request.id, { type: 'load' });
    this.latestRun = null;
    this.lastRun = null;
    this.chunks.clear();
    this.tokens = {};
    this.post(request);
    return request.id;
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
    };
    this.beginRun(request);
    this.lastRun = request;
    this.post(request);
    return request.id;
  }

  /** Append the most likely next token and run again; only the new row is computed. */
  generate(interventions: Interventions, options: Omit<RunOptions, 'logits'>): number {
    const request: GenerateRequest = {
      type: 'generate',
      id: this.nextId++,
      interventions,
      captureQKV: options.captureQKV,
      topK: options.topK,
    };
    this.beginRun(request);
    this.post(request);
    return request.id;
  }

  /** Ask the worker what the model cache holds (`onCache`), emptying it first when `clear`. */
  modelCache(clear: boolean): void {
    const id = this.nextId++;
    this.cacheRequest = id;
    this.record('request', id, { type: 'model-cache', clear });
    this.post({ type: 'model-cache', id, clear });
  }

  /** Stop the run in flight; nothing more of it reaches the events. */
  cancel(): void {
    if (!this.latestRun) return;
    this.record('request', this.latestRun.id, { type: 'cancel' });
    this.post({ type: 'cancel', id: this.latestRun.id });
    this.latestRun = null;
  }

  /** Tests: make the worker lose its WebGL context, which the client then recovers from. */
  loseContextForTesting(): void {
    this.post({ type: 'debug-lose-context' });
  }

  dispose(): void {
    this.disposed = true;
    this.worker.terminate();
  }

  private beginRun(request: RunRequest | GenerateRequest): void {
    this.record('request', request.id, { type: request.type });
    this.latestRun = request;
    this.deliveryMs = 0;
  }

  private post(request: Request, transfer: Transferable[] = []): void {
    this.worker.postMessage(request, transfer);
  }

  private startWorker(): void {
    const worker = (this.options.workerFactory ?? defaultWorker)();
    this.worker = worker;
    worker.onmessage = (event: MessageEvent<Response>) => {
      if (this.worker === worker) this.receive(event.data);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      if (this.worker === worker) this.restart(`crashed (${event.message || 'no message'})`);
    };
    const pageUrl = this.options.pageUrl ?? location.href;
    const wantCanvas = this.options.pageCanvas ?? 'auto';
    const canvas =
      typeof document !== 'undefined' && (wantCanvas === 'auto' ? isSafari() : wantCanvas)
        ? document.createElement('canvas').transferControlToOffscreen()
        : undefined;
    this.post(
      {
        type: 'init',
        pageUrl,
        ...(this.options.backend ? { backend: this.options.backend } : {}),
        ...(canvas ? { canvas } : {}),
      },
      canvas ? [canvas] : [],
    );
  }

  private isLatestRun(id: number): boolean {
    return this.latestRun?.id === id;
  }

  private receive(message: Response): void {
    const e = this.events;
    switch (message.type) {
      case 'backend':
        this.record('backend', 0, message.info);
        e.onBackend?.(message.info);
        return;
      case 'context-lost':
        this.restart('lost its WebGL context');
        return;
      case 'cache':
        this.record('cache', 0, message.usage);
        e.onCache?.(message.usage);
        return;
      case 'progress':
        if (this.latestLoad?.id !== message.id || this.quietLoad === message.id) return;
        this.record('progress', message.id, { stage: message.stage, loaded: message.loaded });
        e.onProgress?.({
          id: message.id,
          stage: message.stage,
          loaded: message.loaded,
          total: message.total,
        });
        return;
      case 'loaded':
        if (this.latestLoad?.id !== message.id) return;
        if (this.quietLoad === message.id) {
          this.quietLoad = null;
          this.record('reloaded', message.id, { name: message.info.name });
          return;
        }
        this.loadedId = message.id;
        this.record('loaded', message.id, { name: message.info.name, config: message.info.config });
        e.onLoaded?.(message.info, message.id);
        return;
      case 'tokens':
        if (!this.isLatestRun(message.id)) return;
        this.tokens[message.stack] = message.tokens.map((t) => t.id);
        this.record('tokens', message.id, {
          stack: message.stack,
          count: message.tokens.length,
          truncated: message.truncated,
        });
        e.onTokens?.(message.id, message.stack, message.tokens, message.truncated);
        return;
      case 'chunk':
        if (this.isLatestRun(message.id)) this.receiveChunk(message);
        return;
      case 'done': {
        if (!this.isLatestRun(message.id)) return;
        const timings = {
          ...message.timings,
          transferMs: message.timings.transferMs + this.deliveryMs,
        };
        this.record('done', message.id, { predictions: message.predictions, timings });
        e.onDone?.(message.id, message.predictions, timings);
        return;
      }
      case 'error':
        if (
          message.id === 0 ||
          message.id === this.cacheRequest ||
          this.isLatestRun(message.id) ||
          this.latestLoad?.id === message.id
        ) {
          this.fail(message.id, message.code, message.message);
        }
        return;
    }
  }

  private fail(id: number, code: ErrorCode, message: string): void {
    this.record('error', id, { code, message });
    this.events.onError?.(id, code, message);
  }

  private record(event: string, id: number, detail: unknown): void {
    if (this.debug) recordDebugEvent(event, id, detail);
  }

  private receiveChunk(message: Extract<Response, { type: 'chunk' }>): void {
    this.deliveryMs += Math.max(0, performance.timeOrigin + performance.now() - message.sentAt);
    const key = chunkKey(message.chunk);
    let chunk = message.chunk;
    if (message.queryStart > 0) {
      const previous = this.chunks.get(key);
      if (!previous) {
        this.fail(message.id, 'forward-failed', `a generation step has no ${key} to extend`);
        return;
      }
      chunk = mergeStep(previous, chunk);
    }
    this.chunks.set(key, chunk);
    this.record('chunk', message.id, {
      type: chunk.type,
      stack: chunk.stack,
      layer: chunk.type === 'layer' ? chunk.layer : null,
      queryStart: message.queryStart,
      rows: chunk.hidden.shape[0],
    });
    this.events.onChunk?.(message.id, chunk);
  }

  /** A new worker, the last model loaded again and the last request run again, same ids. */
  private restart(reason: string): void {
    if (this.disposed) return;
    const t = performance.now();
    this.restarts = this.restarts.filter((r) => t - r < RESTART_WINDOW_MS);
    this.restarts.push(t);
    this.worker.terminate();
    if (this.restarts.length > MAX_RESTARTS) {
      this.fail(
        this.latestRun?.id ?? this.latestLoad?.id ?? 0,
        'worker-crashed',
        `The model worker ${reason} ${this.restarts.length} times in a minute; reload the page to try again.`,
      );
      return;
    }
    const notice = `The model worker ${reason}. Restarted it${this.latestLoad ? ', reloading the model' : ''}.`;
    this.record('notice', 0, notice);
    this.events.onNotice?.(notice);
    this.startWorker();
    if (this.latestLoad) {
      this.quietLoad = this.latestLoad.id === this.loadedId ? this.loadedId : null;
      this.post(this.latestLoad);
    }
    const run = this.rerunRequest();
    if (run) {
      this.beginRun(run);
      this.post(run);
    }
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
