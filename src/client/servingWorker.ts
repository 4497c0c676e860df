/**
 * The worker that serves the model on screen, and keeping it alive: the one owner of which worker
 * serves. Workers are made here (the bundled one or a test's fake, with their `init`: backend,
 * threads, a page canvas where workers cannot make one); one that crashes is replaced when the
 * client says so, and after more than MAX_RESTARTS crashes in RESTART_WINDOW_MS the engine stops
 * instead; a serving worker silent for `silenceMs` while it owes an answer gets a notice that
 * offers a restart. What the new worker loads and runs again is the client's (client.ts).
 */
import type { Request, Response } from '../workers/protocol';
import type { EngineClientOptions } from './types';

/** More restarts than this within RESTART_WINDOW_MS and the client stops, offering a restart. */
const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 60_000;

/**
 * Generous: a bare forward posts nothing between its `tokens` and its `done`, and GPT-2 small at
 * its full context on the cpu backend takes tens of seconds (docs/performance.md).
 */
const SILENCE_MS = 120_000;

export interface WorkerHandlers {
  message(worker: Worker, message: Response): void;
  /** The worker threw (or failed to start); `reason` says so for the notice. */
  crashed(worker: Worker, reason: string): void;
}

function defaultWorker(): Worker {
  return new Worker(new URL('../workers/engine.worker.ts', import.meta.url), { type: 'module' });
}

function isSafari(): boolean {
  return /Safari/.test(navigator.userAgent) && /Apple/.test(navigator.vendor);
}

/** A new worker with `on` attached and its `init` posted: the backend, threads and canvas asked for. */
function startEngineWorker(
  options: EngineClientOptions,
  pageUrl: string,
  on: WorkerHandlers,
): Worker {
  const worker = (options.workerFactory ?? defaultWorker)();
  worker.onmessage = (event: MessageEvent<Response>) => on.message(worker, event.data);
  worker.onerror = (event) => {
    event.preventDefault();
    on.crashed(worker, `crashed (${event.message || 'no message'})`);
  };
  const wantCanvas = options.pageCanvas ?? 'auto';
  const canvas =
    typeof document !== 'undefined' && (wantCanvas === 'auto' ? isSafari() : wantCanvas)
      ? document.createElement('canvas').transferControlToOffscreen()
      : undefined;
  const init: Request = {
    type: 'init',
    pageUrl,
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.threads ? { threads: options.threads } : {}),
    ...(canvas ? { canvas } : {}),
  };
  worker.postMessage(init, canvas ? [canvas] : []);
  return worker;
}

/** The restarts of the last RESTART_WINDOW_MS. */
class RestartWindow {
  private times: number[] = [];

  /** Counts a restart; true when there were too many within the window. */
  count(): boolean {
    const t = Date.now();
    this.times = this.times.filter((r) => t - r < RESTART_WINDOW_MS);
    this.times.push(t);
    return this.times.length > MAX_RESTARTS;
  }

  get size(): number {
    return this.times.length;
  }

  clear(): void {
    this.times = [];
  }
}

/** What the serving worker tells its client. */
export interface ServingHost extends WorkerHandlers {
  /** Whether the serving worker owes an answer to a request (its `init` aside). */
  waiting(): boolean;
  notice(level: 'info' | 'error', message: string, offerRestart: boolean): void;
}

export class ServingWorker {
  private current: Worker;
  /** The serving worker has not reported its backend yet. */
  private initOpen = true;
  private silence: ReturnType<typeof setTimeout> | undefined;
  private readonly restarts = new RestartWindow();
  private stoppedAfterCrashes = false;
  private disposed = false;
  /** Workers that have reported their backend (and so can make progress on a load). */
  private readonly ready = new WeakSet<Worker>();

  constructor(
    private readonly options: EngineClientOptions,
    private readonly pageUrl: string,
    private readonly host: ServingHost,
  ) {
    this.current = this.start();
  }

  get worker(): Worker {
    return this.current;
  }

  /** Stopped after repeated crashes: requests fail at once until `restart()`. */
  get stopped(): boolean {
    return this.stoppedAfterCrashes;
  }

  isReady(worker: Worker): boolean {
    return this.ready.has(worker);
  }

  /** A new worker, not serving yet (a load's, while the model on screen stays usable). */
  start(): Worker {
    return startEngineWorker(this.options, this.pageUrl, {
      message: (worker, message) => {
        const serving = worker === this.current;
        if (serving) this.watch();
        if (message.type === 'backend') {
          this.ready.add(worker);
          if (serving) this.initOpen = false;
        }
        this.host.message(worker, message);
      },
      crashed: (worker, reason) => this.host.crashed(worker, reason),
    });
  }

  post(request: Request, transfer: Transferable[] = []): void {
    this.current.postMessage(request, transfer);
    this.watch();
  }

  /**
   * Terminate the serving worker and start another. `reason`: what happened to it, counted
   * towards stopping; null when the user asked or nothing went wrong. Returns the worker
   * replaced; `stopped` when there were too many crashes (no new worker); null once disposed.
   */
  replace(reason: string | null): Worker | 'stopped' | null {
    if (this.disposed) return null;
    clearTimeout(this.silence);
    const old = this.current;
    old.terminate();
    if (reason && this.restarts.count()) {
      this.stoppedAfterCrashes = true;
      const times = `${this.restarts.size} times in a minute`;
      this.host.notice('error', `The model worker ${reason} ${times}, so it was stopped.`, true);
      return 'stopped';
    }
    this.current = this.start();
    this.initOpen = true;
    return old;
  }

  /** The user's restart: the crash count starts over (the caller then replaces the worker). */
  resume(): void {
    this.restarts.clear();
    this.stoppedAfterCrashes = false;
  }

  /** `worker` (a load's, with its backend) serves from now on; the serving one is dropped. */
  takeOver(worker: Worker): void {
    this.current.terminate();
    this.current = worker;
    this.initOpen = false;
  }

  /** (Re)arm the silence timer while the serving worker owes an answer; disarm it otherwise. */
  watch(): void {
    clearTimeout(this.silence);
    const waiting = this.initOpen || this.host.waiting();
    if (!waiting || this.disposed || this.stoppedAfterCrashes) return;
    const ms = this.options.silenceMs ?? SILENCE_MS;
    this.silence = setTimeout(() => {
      this.host.notice(
        'error',
        `The model worker has not answered for ${Math.round(ms / 1000)} s: it may have stopped.`,
        true,
      );
    }, ms);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.silence);
    this.current.terminate();
  }
}
