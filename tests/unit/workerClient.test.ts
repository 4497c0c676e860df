/**
 * The main-thread client. Two kinds of worker stand in for the real one:
 * - `InProcessWorker`: a real Engine in this process, messages copied and moved as postMessage
 *   does; the tests wait for the client's own messages (never a fixed delay or an unbounded poll).
 * - `ScriptedWorker`: records requests and answers only what the test sends, synchronously, so
 *   the filtering, restarts and timeouts are checked step by step, on fake timers.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EngineClient, type ClientMessage } from '../../src/client/client';
import type { TraceChunk } from '../../src/model/trace';
import { newRun, reduceRun, isRunMessage } from '../../src/ui/store/runReducer';
import type { RunState } from '../../src/ui/store/types';
import { Engine } from '../../src/workers/engine';
import { appendRows } from '../../src/client/mergeStep';
import { backendFromUrl, threadsFromUrl } from '../../src/client/page';
import type { ModelInfo, Request, Response } from '../../src/workers/protocol';
import { DECODER_CHUNKS, fakeFetch, PAGE, PLAIN } from './workerFixtures';

/** A Worker whose inside is an Engine in this process; messages cross as structured clones. */
class InProcessWorker {
  onmessage: ((event: MessageEvent<Response>) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  terminated = false;
  received: Request[] = [];
  private idle: Promise<void> = Promise.resolve();
  private readonly engine = new Engine({
    pageUrl: PAGE,
    fetch: fakeFetch,
    padToBuckets: false,
    post: (message, transfer) => this.deliver(structuredClone(message, { transfer })),
  });

  postMessage(request: Request, transfer: Transferable[] = []): void {
    const copy = structuredClone(request, { transfer });
    this.received.push(copy);
    setImmediate(() => {
      if (this.terminated) return;
      if (copy.type === 'init')
        this.deliver({ type: 'backend', info: { backend: 'cpu', fallbacks: [] } });
      else this.idle = this.engine.handle(copy);
    });
  }

  terminate(): void {
    this.terminated = true;
    // The engine may be mid-forward; free its model once its queue has drained.
    void this.idle.then(() => this.engine.dispose());
  }

  crash(): void {
    this.onerror?.({ message: 'out of memory', preventDefault() {} } as ErrorEvent);
  }

  deliver(message: Response): void {
    setImmediate(() => {
      if (!this.terminated) this.onmessage?.({ data: message } as MessageEvent<Response>);
    });
  }
}

/** Everything the client passes on, and promises for the next message that matches. */
function recorder() {
  const log: ClientMessage[] = [];
  const waiters: { match: (m: ClientMessage) => boolean; resolve: (m: ClientMessage) => void }[] =
    [];
  let afterEach: ((m: ClientMessage) => void) | null = null;
  const listener = (m: ClientMessage) => {
    log.push(m);
    afterEach?.(m);
    for (const w of [...waiters]) {
      if (w.match(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  /** The next message of this type (and id), from now on. */
  const next = (type: ClientMessage['type'], id?: number) =>
    new Promise<ClientMessage>((resolve) =>
      waiters.push({
        match: (m) => m.type === type && (id === undefined || ('id' in m && m.id === id)),
        resolve,
      }),
    );
  const of = <T extends ClientMessage['type']>(type: T, id?: number) =>
    log.filter(
      (m): m is Extract<ClientMessage, { type: T }> =>
        m.type === type && (id === undefined || ('id' in m && m.id === id)),
    );
  const onEach = (f: (m: ClientMessage) => void) => (afterEach = f);
  return { log, listener, next, of, onEach };
}

function inProcess() {
  const workers: InProcessWorker[] = [];
  const r = recorder();
  const client = new EngineClient(r.listener, {
    pageUrl: PAGE,
    debugHandle: false,
    workerFactory: () => {
      const worker = new InProcessWorker();
      workers.push(worker);
      return worker as unknown as Worker;
    },
  });
  return { client, workers, ...r };
}

const OPTIONS = { captureQKV: true, topK: 3 };

describe('EngineClient with a real engine', () => {
  it('passes on only the latest run: a superseded chunk never reaches the listener', async () => {
    const { client, workers, next, of, onEach } = inProcess();
    const loaded = next('loaded');
    client.load({ kind: 'shipped', name: 'tiny' });
    await loaded;
    let second = -1;
    const first = client.run({ text: 'first text' }, PLAIN, OPTIONS);
    let secondDone: Promise<ClientMessage> | null = null;
    // Start the second run as soon as the first one's first chunk is out.
    onEach((m) => {
      if (m.type === 'chunk' && m.id === first && second < 0) {
        second = client.run({ text: 'second text' }, PLAIN, OPTIONS);
        secondDone = next('done', second);
      }
    });
    const firstChunk = next('chunk', first);
    await firstChunk;
    await secondDone;
    expect(of('chunk', first)).toHaveLength(1);
    expect(of('done', first)).toHaveLength(0);
    expect(of('chunk', second)).toHaveLength(DECODER_CHUNKS);
    client.dispose();
    expect(workers[0].terminated).toBe(true);
  });

  it('generation steps grow the trace in the run reducer into what a full run gives', async () => {
    const { client, next, onEach } = inProcess();
    const loaded = next('loaded');
    client.load({ kind: 'shipped', name: 'tiny' });
    await loaded;
    // The store's reducer, fed with exactly what the client passes on.
    let run: RunState | null = null;
    onEach((m) => {
      if (run && isRunMessage(m)) run = reduceRun(run, m);
    });
    const spec = { input: { text: 'ab' }, interventions: PLAIN, captureQKV: true };
    let done = next('done');
    run = newRun(client.run(spec.input, PLAIN, OPTIONS), spec);
    await done;
    for (let i = 0; i < 3; i++) {
      done = next('done');
      run = newRun(client.generate(PLAIN, OPTIONS), spec, run!);
      await done;
    }
    const generated: RunState = run!;
    const ids = generated.tokens.decoder!.map((t) => t.id);
    expect(ids).toHaveLength(5);
    done = next('done');
    run = newRun(client.run({ ids }, PLAIN, OPTIONS), spec);
    await done;
    const reference: RunState = run!;
    const [a, b] = [generated.trace.decoder!, reference.trace.decoder!];
    expect(a.embedding.inputIds).toEqual(b.embedding.inputIds);
    expect(a.layers).toHaveLength(b.layers.length);
    const close = (x: Float32Array, y: Float32Array, digits: number) =>
      x.forEach((v, j) => expect(v).toBeCloseTo(y[j], digits));
    close(a.embedding.hidden.data, b.embedding.hidden.data, 4);
    close(a.output!.hidden.data, b.output!.hidden.data, 4);
    a.layers.forEach((layer, i) => {
      const [x, y] = [layer.attentions[0], b.layers[i].attentions[0]];
      expect(x.probs.shape).toEqual([2, 5, 5]);
      close(x.probs.data, y.probs.data, 5);
      expect(Array.from(x.mask.data)).toEqual(Array.from(y.mask.data));
      close(x.q!.data, y.q!.data, 4);
      close(x.k!.data, y.k!.data, 4);
      close(layer.hidden.data, b.layers[i].hidden.data, 4);
      expect(layer.norms[0].inputMean).toHaveLength(5);
      expect(layer.residual[0].norms).toHaveLength(5);
    });
    client.dispose();
  });

  it('restarts a crashed worker, reloads the model and re-runs the last request', async () => {
    const { client, workers, next, of } = inProcess();
    const loaded = next('loaded');
    const load = client.load({ kind: 'shipped', name: 'tiny' });
    await loaded;
    let done = next('done');
    const run = client.run({ text: 'survive' }, PLAIN, OPTIONS);
    await done;
    done = next('done', run);
    workers[0].crash();
    await done;
    expect(workers).toHaveLength(2);
    expect(workers[0].terminated).toBe(true);
    expect(of('notice').map((n) => n.message)).toEqual([
      expect.stringMatching(/crashed \(out of memory\).*reloading the model/),
    ]);
    expect(workers[1].received.map((r) => r.type)).toEqual(['init', 'load', 'run']);
    expect(workers[1].received[1]).toMatchObject({ type: 'load', id: load });
    // The UI already has this model: the reload is quiet, the re-run answers under its own id.
    expect(of('loaded').map((m) => m.id)).toEqual([load]);
    expect(of('done', run)).toHaveLength(2);
    client.dispose();
  });

  it('after a failed load, a crash reloads the model on screen, not the failed one', async () => {
    const { client, workers, next, of } = inProcess();
    const loaded = next('loaded');
    const good = client.load({ kind: 'shipped', name: 'tiny' });
    await loaded;
    let done = next('done');
    const run = client.run({ text: 'kept' }, PLAIN, OPTIONS);
    await done;
    const failed = next('error');
    const bad = client.load({ kind: 'shipped', name: 'corrupt' });
    expect(await failed).toMatchObject({ id: bad, code: 'bad-model' });
    // The failed load ran in a worker of its own, now gone; the first one still serves.
    expect(workers).toHaveLength(2);
    expect(workers[1].terminated).toBe(true);
    expect(workers[0].terminated).toBe(false);
    done = next('done', run);
    workers[0].crash();
    await done;
    expect(workers[2].received.filter((r) => r.type === 'load')).toEqual([
      { type: 'load', id: good, source: { kind: 'shipped', name: 'tiny' } },
    ]);
    expect(of('error').map((e) => e.id)).toEqual([bad]);
    // And the model keeps working on the new worker.
    done = next('done');
    const after = client.run({ text: 'still here' }, PLAIN, OPTIONS);
    expect(await done).toMatchObject({ id: after });
    client.dispose();
  });

  it('re-runs a generated sequence from its tokens after a lost WebGL context', async () => {
    const { client, workers, next, of } = inProcess();
    const loaded = next('loaded');
    client.load({ kind: 'shipped', name: 'tiny' });
    await loaded;
    let done = next('done');
    client.run({ text: 'ab' }, PLAIN, OPTIONS);
    await done;
    done = next('done');
    const step = client.generate(PLAIN, OPTIONS);
    await done;
    done = next('done', step);
    workers[0].deliver({ type: 'context-lost' });
    await done;
    expect(of('notice').map((n) => n.message)).toEqual([
      expect.stringMatching(/lost its WebGL context/),
    ]);
    const rerun = workers[1].received.at(-1)!;
    expect(rerun).toMatchObject({ type: 'run', id: step, input: { ids: expect.any(Array) } });
    expect((rerun as { input: { ids: number[] } }).input.ids).toHaveLength(3);
    client.dispose();
  });

  it('loads again a model that was still loading (none on screen) when the worker crashed', async () => {
    const { client, workers, next, of } = inProcess();
    const loaded = next('loaded');
    const load = client.load({ kind: 'shipped', name: 'tiny' });
    workers[0].crash();
    await loaded;
    expect(of('loaded').map((m) => m.id)).toEqual([load]);
    expect(workers).toHaveLength(2);
    client.dispose();
  });
});

/** A worker that only records; the test answers for it. */
class ScriptedWorker {
  onmessage: ((event: MessageEvent<Response>) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  terminated = false;
  received: Request[] = [];
  postMessage(request: Request): void {
    this.received.push(request);
  }
  terminate(): void {
    this.terminated = true;
  }
  send(message: Response): void {
    this.onmessage?.({ data: message } as MessageEvent<Response>);
  }
  crash(message = 'boom'): void {
    this.onerror?.({ message, preventDefault() {} } as ErrorEvent);
  }
  last(): Request | undefined {
    return this.received.at(-1);
  }
}

const INFO = {
  name: 'tiny',
  config: { contextLength: 40, architecture: 'decoder-only' },
  tokenizer: 'chars',
  parameterCount: 1,
  weightBytes: 4,
  halfWeights: 0,
} as unknown as ModelInfo;
const TIMINGS = { forwardMs: 0, readbackMs: 0, transferMs: 0, totalMs: 0 };
const EMBEDDING: TraceChunk = {
  type: 'embedding',
  stack: 'decoder',
  inputIds: [3],
  hidden: { shape: [1, 1], data: new Float32Array(1) },
};
const STALL_MS = 5_000; // seconds in the message: 5
const SILENCE_MS = 60_000;

function scripted() {
  const workers: ScriptedWorker[] = [];
  const r = recorder();
  const client = new EngineClient(r.listener, {
    pageUrl: PAGE,
    debugHandle: false,
    stallMs: STALL_MS,
    silenceMs: SILENCE_MS,
    workerFactory: () => {
      const worker = new ScriptedWorker();
      workers.push(worker);
      return worker as unknown as Worker;
    },
  });
  const serving = () => workers.filter((w) => !w.terminated);
  /** A client with model `tiny` on screen, loaded in the first worker. */
  const withModel = () => {
    workers[0].send({ type: 'backend', info: { backend: 'cpu', fallbacks: [] } });
    const load = client.load({ kind: 'shipped', name: 'tiny' });
    workers[0].send({ type: 'loaded', id: load, info: INFO });
    return load;
  };
  return { client, workers, serving, withModel, ...r };
}

describe('EngineClient, step by step', () => {
  afterEach(() => vi.useRealTimers());

  it('drops messages of an older or cancelled request even when the worker still sends them', () => {
    const { client, workers, withModel, of } = scripted();
    withModel();
    const worker = workers[0];
    const old = client.run({ text: 'x' }, PLAIN, OPTIONS);
    const newer = client.run({ text: 'y' }, PLAIN, OPTIONS);
    for (const id of [old, newer])
      worker.send({ type: 'chunk', id, chunk: EMBEDDING, queryStart: 0, sentAt: 0 });
    expect(of('chunk').map((c) => c.id)).toEqual([newer]);
    client.cancel();
    expect(worker.last()).toEqual({ type: 'cancel', id: newer });
    worker.send({ type: 'done', id: newer, predictions: [], timings: TIMINGS });
    worker.send({ type: 'done', id: old, predictions: [], timings: TIMINGS });
    expect(of('done')).toEqual([]);
    client.dispose();
  });

  it('loads in a second worker while the model on screen keeps running', () => {
    const { client, workers, withModel, of } = scripted();
    withModel();
    const next = client.load({ kind: 'shipped', name: 'other' });
    expect(workers).toHaveLength(2);
    expect(workers[1].received.map((r) => r.type)).toEqual(['init', 'load']);
    // A run meanwhile goes to the model on screen.
    const run = client.run({ text: 'meanwhile' }, PLAIN, OPTIONS);
    expect(workers[0].last()).toMatchObject({ type: 'run', id: run });
    workers[0].send({ type: 'done', id: run, predictions: [], timings: TIMINGS });
    expect(of('done').map((d) => d.id)).toEqual([run]);
    // The backend of the loading worker is told when it takes over, with its model.
    workers[1].send({ type: 'backend', info: { backend: 'wasm', fallbacks: [] } });
    expect(of('backend')).toHaveLength(1);
    workers[1].send({ type: 'loaded', id: next, info: { ...INFO, name: 'other' } });
    expect(workers[0].terminated).toBe(true);
    expect(of('backend').at(-1)).toMatchObject({ info: { backend: 'wasm' } });
    expect(client.run({ text: 'on the new one' }, PLAIN, OPTIONS)).toBeGreaterThan(next);
    expect(workers[1].last()).toMatchObject({ type: 'run' });
    client.dispose();
  });

  it('a failed or cancelled load drops its worker and keeps the model on screen', () => {
    const { client, workers, withModel, of } = scripted();
    const shown = withModel();
    const bad = client.load({ kind: 'url', url: 'https://example.org/m/' });
    workers[1].send({ type: 'error', id: bad, code: 'bad-model', message: 'no' });
    expect(workers[1].terminated).toBe(true);
    expect(of('error')).toMatchObject([{ id: bad, code: 'bad-model' }]);
    client.load({ kind: 'url', url: 'https://example.org/n/' });
    client.cancelLoad();
    expect(workers[2].terminated).toBe(true);
    expect(workers[0].terminated).toBe(false);
    // A crash now reloads the model on screen.
    workers[0].crash();
    expect(workers[3].received.filter((r) => r.type === 'load')).toEqual([
      { type: 'load', id: shown, source: { kind: 'shipped', name: 'tiny' } },
    ]);
    client.dispose();
  });

  it('fails a load that receives no bytes for the stall time, naming where it read from', () => {
    vi.useFakeTimers();
    const { client, workers, withModel, of } = scripted();
    withModel();
    const id = client.load({ kind: 'url', url: 'https://example.org/slow/' });
    // Starting a backend can take long on a busy machine: the clock starts when it is ready.
    vi.advanceTimersByTime(10 * STALL_MS);
    expect(of('error')).toEqual([]);
    workers[1].send({ type: 'backend', info: { backend: 'cpu', fallbacks: [] } });
    vi.advanceTimersByTime(STALL_MS - 1);
    workers[1].send({ type: 'progress', id, stage: 'download', loaded: 10, total: 100 });
    vi.advanceTimersByTime(STALL_MS - 1);
    expect(of('error')).toEqual([]);
    expect(workers[1].terminated).toBe(false);
    vi.advanceTimersByTime(1);
    expect(of('error')).toMatchObject([
      {
        id,
        code: 'fetch-failed',
        message: expect.stringMatching(
          /No bytes from https:\/\/example\.org\/slow\/ for 5 s.*kept/,
        ),
      },
    ]);
    expect(workers[1].terminated).toBe(true);
    expect(workers[0].terminated).toBe(false);
    client.dispose();
  });

  it('offers a restart when the worker says nothing for the silence time while a run waits', () => {
    vi.useFakeTimers();
    const { client, workers, withModel, of } = scripted();
    withModel();
    const run = client.run({ text: 'x' }, PLAIN, OPTIONS);
    vi.advanceTimersByTime(SILENCE_MS - 1);
    workers[0].send({ type: 'tokens', id: run, stack: 'decoder', tokens: [], truncated: false });
    vi.advanceTimersByTime(SILENCE_MS - 1);
    expect(of('notice')).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(of('notice')).toMatchObject([
      { level: 'error', offerRestart: true, message: expect.stringMatching(/not answered/) },
    ]);
    // A worker with nothing to answer is never reported, however long it is quiet.
    workers[0].send({ type: 'done', id: run, predictions: [], timings: TIMINGS });
    vi.advanceTimersByTime(10 * SILENCE_MS);
    expect(of('notice')).toHaveLength(1);
    // The user's restart: a new worker, the model on screen, the run again.
    client.restart();
    expect(workers[0].terminated).toBe(true);
    expect(workers[1].received.map((r) => r.type)).toEqual(['init', 'load', 'run']);
    expect(workers[1].received[2]).toMatchObject({ id: run });
    client.dispose();
  });

  it('treats a corrupt backend as a crash: new worker, model reloaded, run re-run, notice', () => {
    const { client, workers, withModel, of } = scripted();
    const shown = withModel();
    const run = client.run({ ids: [1, 2, 3] }, PLAIN, OPTIONS);
    workers[0].send({
      type: 'error',
      id: run,
      code: 'backend-corrupt',
      message: 'memory access out of bounds',
    });
    expect(of('error')).toEqual([]);
    expect(workers[0].terminated).toBe(true);
    expect(workers[1].received.map((r) => r.type)).toEqual(['init', 'load', 'run']);
    expect(of('notice')).toMatchObject([
      { level: 'info', message: expect.stringMatching(/corrupt backend.*reloading the model/) },
    ]);
    workers[1].send({ type: 'loaded', id: shown, info: INFO });
    workers[1].send({ type: 'done', id: run, predictions: [], timings: TIMINGS });
    expect(of('loaded')).toHaveLength(1); // the reload is quiet
    expect(of('done').map((d) => d.id)).toEqual([run]);
    client.dispose();
  });

  it('stops after four crashes in a minute, says so, refuses requests, and restarts on demand', async () => {
    vi.useFakeTimers();
    const { client, workers, withModel, of } = scripted();
    withModel();
    const run = client.run({ text: 'x' }, PLAIN, OPTIONS);
    for (let i = 0; i < 4; i++) workers.at(-1)!.crash();
    expect(workers).toHaveLength(4);
    expect(of('notice').at(-1)).toMatchObject({
      level: 'error',
      offerRestart: true,
      message: expect.stringMatching(/crashed \(boom\) 4 times in a minute/),
    });
    expect(of('error')).toMatchObject([{ id: run, code: 'worker-crashed' }]);
    // Typing now gets an answer, not silence.
    const refused = client.run({ text: 'y' }, PLAIN, OPTIONS);
    await Promise.resolve();
    expect(of('error').at(-1)).toMatchObject({ id: refused, code: 'worker-crashed' });
    expect(workers).toHaveLength(4);
    client.restart();
    expect(workers).toHaveLength(5);
    expect(workers[4].received.map((r) => r.type)).toEqual(['init', 'load', 'run']);
    // Crashes far apart never stop it.
    for (let i = 0; i < 6; i++) {
      const worker = workers.at(-1)!;
      worker.send({ type: 'backend', info: { backend: 'cpu', fallbacks: [] } });
      worker.send({ type: 'done', id: refused, predictions: [], timings: TIMINGS });
      vi.advanceTimersByTime(61_000);
      worker.crash();
    }
    expect(of('notice').filter((n) => n.offerRestart)).toHaveLength(1);
    client.dispose();
  });

  it('refuses ids longer than the context with a typed error instead of cutting them', async () => {
    const { client, workers, withModel, of } = scripted();
    withModel();
    const posted = workers[0].received.length;
    const id = client.run({ ids: Array.from({ length: 41 }, () => 3) }, PLAIN, OPTIONS);
    await Promise.resolve();
    expect(of('error')).toMatchObject([
      { id, code: 'context-full', message: expect.stringMatching(/^41 token ids .* \(40\)/) },
    ]);
    expect(workers[0].received).toHaveLength(posted);
    client.run({ ids: Array.from({ length: 40 }, () => 3) }, PLAIN, OPTIONS);
    expect(workers[0].last()).toMatchObject({ type: 'run' });
    client.dispose();
  });
});

describe('appendRows', () => {
  it('stacks rows and pads the narrower ones with zeros', () => {
    const a = { shape: [2, 1, 2], data: new Float32Array([1, 2, 3, 4]) };
    const b = { shape: [2, 1, 3], data: new Float32Array([5, 6, 7, 8, 9, 10]) };
    expect(appendRows(a, b, 1)).toEqual({
      shape: [2, 2, 3],
      data: new Float32Array([1, 2, 0, 5, 6, 7, 3, 4, 0, 8, 9, 10]),
    });
    const rows = appendRows(
      { shape: [2], data: new Float32Array([1, 2]) },
      { shape: [1], data: new Float32Array([3]) },
      0,
    );
    expect(rows).toEqual({ shape: [3], data: new Float32Array([1, 2, 3]) });
  });
});

describe('page URL options', () => {
  it('reads ?threads= (1–16) and ?backend=, ignoring anything else', () => {
    const at = (query: string) => `https://lab.example/${query}`;
    expect(threadsFromUrl(at('?threads=2'))).toBe(2);
    expect(threadsFromUrl(at('?backend=wasm&threads=1'))).toBe(1);
    for (const bad of ['', '?threads=0', '?threads=17', '?threads=1.5', '?threads=two'])
      expect(threadsFromUrl(at(bad)), bad).toBeUndefined();
    expect(backendFromUrl(at('?backend=wasm&threads=2'))).toBe('wasm');
    expect(backendFromUrl(at('?backend=tpu'))).toBeUndefined();
  });

  it('passes the thread count to the worker in its init message', async () => {
    const workers: InProcessWorker[] = [];
    const r = recorder();
    const client = new EngineClient(r.listener, {
      pageUrl: PAGE,
      debugHandle: false,
      threads: 2,
      workerFactory: () => {
        const worker = new InProcessWorker();
        workers.push(worker);
        return worker as unknown as Worker;
      },
    });
    const loaded = r.next('loaded');
    client.load({ kind: 'shipped', name: 'tiny' });
    await loaded;
    expect(workers[0].received[0]).toMatchObject({ type: 'init', threads: 2 });
    client.dispose();
  });
});
