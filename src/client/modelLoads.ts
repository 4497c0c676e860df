/**
 * Which model load is in progress and which is on screen: the one owner of those facts. A load
 * runs in a second worker while a model is on screen (so that one stays usable, and a failed or
 * cancelled load costs nothing), in the serving worker when none is; a load that receives no
 * bytes for `stallMs` is reported as stalled. Which worker serves is the client's (client.ts):
 * it hands this a worker to load in, and makes the loading worker serve once it has loaded.
 */
import type { BackendInfo, ModelInfo } from '../workers/protocol';
import type { LoadRequest } from './types';

/**
 * Downloads report progress every few kB; a minute without any is a stalled server. The clock
 * starts once the worker has its backend: starting WebGL on a busy machine takes tens of seconds.
 */
const STALL_MS = 60_000;

/** A load in progress and the worker doing it (the serving worker when no model is on screen). */
export interface Loading {
  request: LoadRequest;
  worker: Worker;
  /** The loading worker's backend, passed on when it takes over. */
  backend: BackendInfo | null;
  /** Armed once the worker has its backend, re-armed by each progress message. */
  stall: ReturnType<typeof setTimeout> | undefined;
}

export class ModelLoads {
  private loading: Loading | null = null;
  /** The load whose model is on screen: what a restart loads again. */
  private onScreen: LoadRequest | null = null;
  /** Context length of the model on screen: longer ids are refused, not cut. */
  private context: number | null = null;
  /** The load repeated after a restart: its `loaded` is not passed on (the UI has the model). */
  private quietLoad: number | null = null;

  constructor(
    /** Told when a load had no progress for `stallMs`; it is still in progress then. */
    private readonly stalled: (request: LoadRequest, ms: number) => void,
    private readonly stallMs = STALL_MS,
  ) {}

  get shown(): LoadRequest | null {
    return this.onScreen;
  }

  get contextLength(): number | null {
    return this.context;
  }

  /** The load in progress, if any. */
  get current(): LoadRequest | null {
    return this.loading?.request ?? null;
  }

  /** The load in progress in `worker`, if any. */
  in(worker: Worker): Loading | null {
    return this.loading?.worker === worker ? this.loading : null;
  }

  /** Load in `worker`; `ready`: it has its backend already, so the stall clock starts now. */
  start(request: LoadRequest, worker: Worker, ready: boolean): void {
    const stall = ready ? this.stallTimer(request) : undefined;
    this.loading = { request, worker, backend: null, stall };
    worker.postMessage(request);
  }

  /**
   * Forget the load in progress (failed, cancelled, stalled); a worker of its own goes with it,
   * the `serving` one stays. Returns what it was.
   */
  end(serving: Worker): Loading | null {
    const loading = this.loading;
    if (!loading) return null;
    clearTimeout(loading.stall);
    this.loading = null;
    if (loading.worker !== serving) loading.worker.terminate();
    return loading;
  }

  /**
   * `worker` has its backend: a load waiting for it starts its stall clock. True when the backend
   * is kept for later (a loading worker that does not serve yet), not passed on now.
   */
  backendReady(worker: Worker, info: BackendInfo, serving: boolean): boolean {
    const loading = this.in(worker);
    if (loading && loading.stall === undefined) loading.stall = this.stallTimer(loading.request);
    if (!loading || serving) return false;
    loading.backend = info;
    return true;
  }

  /** A progress message: true when it is the load in progress's (its stall clock starts over). */
  progress(worker: Worker, id: number): boolean {
    const loading = this.in(worker);
    if (loading?.request.id !== id) return false;
    clearTimeout(loading.stall);
    loading.stall = this.stallTimer(loading.request);
    return true;
  }

  /**
   * A `loaded` message: `reloaded` for the quiet load after a restart (not passed on); the load
   * when it is the one in progress, whose model is on screen now (the caller makes its worker
   * serve); null for anything else.
   */
  loaded(
    worker: Worker,
    id: number,
    info: ModelInfo,
    serving: boolean,
  ): 'reloaded' | Loading | null {
    if (serving && id === this.quietLoad) {
      this.quietLoad = null;
      return 'reloaded';
    }
    const loading = this.in(worker);
    if (loading?.request.id !== id) return null;
    clearTimeout(loading.stall);
    this.loading = null;
    this.onScreen = loading.request;
    this.context = info.config.contextLength;
    return loading;
  }

  /** Whether an error with `id` from `worker` ends the load in progress. */
  isLoad(worker: Worker, id: number): boolean {
    return this.loading?.request.id === id && this.loading.worker === worker;
  }

  /** An error for `id`: true when the quiet reload failed, and no model is on screen now. */
  reloadFailed(id: number): boolean {
    if (id !== this.quietLoad) return false;
    this.quietLoad = null;
    this.onScreen = null;
    this.context = null;
    return true;
  }

  /**
   * The serving worker `old` was replaced by `fresh`: a load it was doing starts over there,
   * or the model on screen loads again, quietly. True when something loads again.
   */
  moveTo(old: Worker, fresh: Worker): boolean {
    const loading = this.in(old);
    if (loading) {
      loading.worker = fresh;
      clearTimeout(loading.stall);
      loading.stall = undefined; // until the new worker has its backend
      fresh.postMessage(loading.request);
      return true;
    }
    if (!this.onScreen) return false;
    this.quietLoad = this.onScreen.id;
    fresh.postMessage(this.onScreen);
    return true;
  }

  private stallTimer(request: LoadRequest): ReturnType<typeof setTimeout> {
    return setTimeout(() => {
      if (this.loading?.request === request) this.stalled(request, this.stallMs);
    }, this.stallMs);
  }
}
