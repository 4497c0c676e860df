/**
 * The main-thread client against a real Engine running in-process behind a fake Worker that
 * copies and moves messages like postMessage does: only the latest request reaches the events,
 * generation steps arrive as whole chunks, and crashes and lost contexts are recovered from.
 */
import { describe, expect, it } from 'vitest';
import type { LayerChunk, TraceChunk } from '../../src/model/trace';
import { EngineClient, type EngineEvents } from '../../src/workers/client';
import { Engine } from '../../src/workers/engine';
import { appendRows } from '../../src/client/mergeStep';
import type { Request, Response } from '../../src/workers/protocol';
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
        this.deliver({ type: 'backend', info: { backend: 'wasm', fallbacks: [] } });
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

interface Recorded {
  /** Called after each chunk is recorded, e.g. to start another run right then. */
  afterChunk?: (id: number) => void;
  events: { name: string; id: number; detail?: unknown }[];
  chunks: { id: number; chunk: TraceChunk }[];
  notices: string[];
  done: Map<number, number>;
}

function recordingEvents(): {
  events: EngineEvents;
  log: Recorded;
  doneOnce: (id: number) => Promise<void>;
} {
  const log: Recorded = { events: [], chunks: [], notices: [], done: new Map() };
  const waiters = new Map<number, () => void>();
  const events: EngineEvents = {
    onBackend: (info) => log.events.push({ name: 'backend', id: 0, detail: info }),
    onLoaded: (_info, id) => log.events.push({ name: 'loaded', id }),
    onTokens: (id, stack, tokens) =>
      log.events.push({ name: 'tokens', id, detail: { stack, tokens } }),
    onChunk: (id, chunk) => {
      log.chunks.push({ id, chunk });
      log.afterChunk?.(id);
    },
    onDone: (id) => {
      log.done.set(id, (log.done.get(id) ?? 0) + 1);
      log.events.push({ name: 'done', id });
      waiters.get(id)?.();
    },
    onError: (id, code, message) =>
      log.events.push({ name: 'error', id, detail: { code, message } }),
    onNotice: (message) => log.notices.push(message),
  };
  const doneOnce = (id: number) =>
    new Promise<void>((resolve) => {
      const before = log.done.get(id) ?? 0;
      waiters.set(id, () => {
        if ((log.done.get(id) ?? 0) > before) resolve();
      });
    });
  return { events, log, doneOnce };
}

function until(condition: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (condition()) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
}

function setup() {
  const workers: InProcessWorker[] = [];
  const { events, log, doneOnce } = recordingEvents();
  const client = new EngineClient(events, {
    pageUrl: PAGE,
    debugHandle: false,
    workerFactory: () => {
      const worker = new InProcessWorker();
      workers.push(worker);
      return worker as unknown as Worker;
    },
  });
  const loaded = () => until(() => log.events.some((e) => e.name === 'loaded'));
  return { client, workers, log, doneOnce, loaded };
}

const OPTIONS = { captureQKV: true, topK: 3 };

describe('EngineClient', () => {
  it('passes on only the latest run: a superseded chunk never reaches the events', async () => {
    const { client, log, loaded, workers } = setup();
    client.load({ kind: 'shipped', name: 'tiny' });
    await loaded();
    let second = -1;
    const first = client.run({ text: 'first text' }, PLAIN, OPTIONS);
    // Start the second run as soon as the first one's first chunk is out.
    log.afterChunk = (id) => {
      if (id === first && second < 0) second = client.run({ text: 'second text' }, PLAIN, OPTIONS);
    };
    await until(() => second > 0 && log.done.has(second));
    expect(log.chunks.filter((c) => c.id === first)).toHaveLength(1);
    expect(log.done.has(first)).toBe(false);
    expect(log.chunks.filter((c) => c.id === second)).toHaveLength(DECODER_CHUNKS);
    client.dispose();
    expect(workers[0].terminated).toBe(true);
  });

  it('drops messages of an older request even when the worker still sends them', async () => {
    const { client, log, workers } = setup();
    const worker = workers[0];
    const run = client.run({ text: 'x' }, PLAIN, OPTIONS);
    const newer = client.run({ text: 'y' }, PLAIN, OPTIONS);
    const hidden: LayerChunk['hidden'] = { shape: [1, 1], data: new Float32Array(1) };
    for (const id of [run, newer]) {
      worker.deliver({
        type: 'chunk',
        id,
        chunk: { type: 'embedding', stack: 'decoder', inputIds: [3], hidden },
        queryStart: 0,
        sentAt: 0,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(log.chunks.map((c) => c.id)).toEqual([newer]);
    client.cancel();
    worker.deliver({
      type: 'done',
      id: newer,
      predictions: [],
      timings: { forwardMs: 0, readbackMs: 0, transferMs: 0, totalMs: 0 },
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(log.done.size).toBe(0);
    expect(worker.received.at(-1)).toEqual({ type: 'cancel', id: newer });
    client.dispose();
  });

  it('merges cached generation rows into whole chunks equal to a full run', async () => {
    const { client, log, doneOnce, loaded } = setup();
    client.load({ kind: 'shipped', name: 'tiny' });
    await loaded();
    const run = client.run({ text: 'ab' }, PLAIN, OPTIONS);
    await doneOnce(run);
    let step = -1;
    for (let i = 0; i < 3; i++) {
      step = client.generate(PLAIN, OPTIONS);
      await doneOnce(step);
    }
    const tokens = log.events.filter((e) => e.name === 'tokens' && e.id === step).at(-1)!
      .detail as {
      tokens: { id: number }[];
    };
    const ids = tokens.tokens.map((t) => t.id);
    expect(ids).toHaveLength(5);
    const generated = log.chunks.filter((c) => c.id === step).map((c) => c.chunk);
    const full = client.run({ ids }, PLAIN, OPTIONS);
    await doneOnce(full);
    const reference = log.chunks.filter((c) => c.id === full).map((c) => c.chunk);
    expect(generated.map((c) => c.type)).toEqual(reference.map((c) => c.type));
    for (let i = 0; i < reference.length; i++) {
      const a = generated[i];
      const b = reference[i];
      expect(a.hidden.shape).toEqual(b.hidden.shape);
      a.hidden.data.forEach((v, j) => expect(v).toBeCloseTo(b.hidden.data[j], 4));
      if (a.type === 'layer' && b.type === 'layer') {
        const [x, y] = [a.attentions[0], b.attentions[0]];
        expect(x.probs.shape).toEqual([2, 5, 5]);
        x.probs.data.forEach((v, j) => expect(v).toBeCloseTo(y.probs.data[j], 5));
        expect(Array.from(x.mask.data)).toEqual(Array.from(y.mask.data));
        x.q!.data.forEach((v, j) => expect(v).toBeCloseTo(y.q!.data[j], 4));
        x.k!.data.forEach((v, j) => expect(v).toBeCloseTo(y.k!.data[j], 4));
        expect(a.norms[0].inputMean).toHaveLength(5);
        expect(a.residual[0].norms).toHaveLength(5);
      }
      if (a.type === 'embedding' && b.type === 'embedding') expect(a.inputIds).toEqual(b.inputIds);
    }
    client.dispose();
  });

  it('restarts a crashed worker, reloads the model and re-runs the last request', async () => {
    const { client, log, doneOnce, loaded, workers } = setup();
    const load = client.load({ kind: 'shipped', name: 'tiny' });
    await loaded();
    const run = client.run({ text: 'survive' }, PLAIN, OPTIONS);
    await doneOnce(run);
    const again = doneOnce(run);
    workers[0].crash();
    await again;
    expect(workers).toHaveLength(2);
    expect(workers[0].terminated).toBe(true);
    expect(log.notices).toEqual([
      expect.stringMatching(/crashed \(out of memory\).*reloading the model/),
    ]);
    expect(workers[1].received.map((r) => r.type)).toEqual(['init', 'load', 'run']);
    expect(workers[1].received[1]).toMatchObject({ type: 'load', id: load });
    // The UI already has this model: the reload is quiet, the re-run answers under its own id.
    expect(log.events.filter((e) => e.name === 'loaded').map((e) => e.id)).toEqual([load]);
    expect(log.done.get(run)).toBe(2);
    client.dispose();
  });

  it('recovers from a lost WebGL context, re-running a generated sequence from its tokens', async () => {
    const { client, log, doneOnce, loaded, workers } = setup();
    client.load({ kind: 'shipped', name: 'tiny' });
    await loaded();
    await doneOnce(client.run({ text: 'ab' }, PLAIN, OPTIONS));
    const step = client.generate(PLAIN, OPTIONS);
    await doneOnce(step);
    const again = doneOnce(step);
    workers[0].deliver({ type: 'context-lost' });
    await again;
    expect(log.notices).toEqual([expect.stringMatching(/lost its WebGL context/)]);
    const rerun = workers[1].received.at(-1)!;
    expect(rerun).toMatchObject({ type: 'run', id: step, input: { ids: expect.any(Array) } });
    expect((rerun as { input: { ids: number[] } }).input.ids).toHaveLength(3);
    client.dispose();
  });

  it('passes on the reload of a model that was still loading when the worker crashed', async () => {
    const { client, log, loaded, workers } = setup();
    const load = client.load({ kind: 'shipped', name: 'tiny' });
    workers[0].crash();
    await loaded();
    expect(log.events.filter((e) => e.name === 'loaded').map((e) => e.id)).toEqual([load]);
    expect(workers).toHaveLength(2);
    client.dispose();
  });

  it('gives up with worker-crashed after repeated crashes', async () => {
    const { client, log, workers } = setup();
    for (let i = 0; i < 4; i++) workers.at(-1)!.crash();
    expect(workers).toHaveLength(4);
    expect(log.events.at(-1)).toMatchObject({ name: 'error', detail: { code: 'worker-crashed' } });
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
