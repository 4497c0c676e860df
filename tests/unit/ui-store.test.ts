import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/model/config';
import type { LayerChunk, TraceChunk } from '../../src/model/trace';
import type { EngineListener, RunOptions } from '../../src/client/client';
import type {
  AnalysisRequest,
  AnalysisResult,
  ErrorCode,
  Interventions,
  LayerRef,
  ModelInfo,
  ModelSource,
  Prediction,
  RunInput,
  Timings,
  TokenInfo,
  TokenizerQuery,
} from '../../src/workers/protocol';
import type { Engine } from '../../src/ui/store/engine';
import { DEFAULT_INTERVENTIONS } from '../../src/ui/store/inputs';
import { createLabStore, viewOf, type LabStore, type StoreDeps } from '../../src/ui/store/store';
import { RNN_TIME_BOUND_MS } from '../../src/ui/store/rnnSlice';
import { DEFAULT_VIEW, parseView, serializeView } from '../../src/ui/lib/urlState';
import { attentionBlocks, clampFocus, pickCompareModel } from '../../src/ui/store/shape';
import {
  attentionOf,
  axisTokens,
  counterfactuals,
  headMatrix,
  isAblated,
} from '../../src/ui/store/selectors';
import type { RunState } from '../../src/ui/store/types';
import type { HeadFocus } from '../../src/ui/lib/urlState';

type Call =
  | { kind: 'load'; id: number; source: ModelSource }
  | { kind: 'run'; id: number; input: RunInput; interventions: Interventions; opts: RunOptions }
  | { kind: 'generate'; id: number; interventions: Interventions; opts: RunOptions }
  | { kind: 'detail'; run: number; layer: LayerRef; captureQKV: boolean }
  | { kind: 'cancel' }
  | { kind: 'cancel-load' }
  | { kind: 'restart' }
  | { kind: 'model-cache'; clear: boolean }
  | { kind: 'rnn'; id: number; maxN: number; timeBoundMs: number }
  | { kind: 'tokenizer'; id: number; query: TokenizerQuery }
  | {
      kind: 'analyse';
      id: number;
      input: RunInput;
      analysis: AnalysisRequest;
      interventions?: Interventions;
    };

/** A stand-in for the worker client: records what the store asks and lets the test answer. */
class FakeEngine implements Engine {
  calls: Call[] = [];
  private nextId = 1;
  disposed = false;
  /** Answers as the client passes them on. */
  readonly events;
  constructor(readonly listener: EngineListener) {
    this.events = {
      onLoaded: (info: ModelInfo) => listener({ type: 'loaded', id: this.last('load').id, info }),
      onTokens: (
        id: number,
        stack: 'encoder' | 'decoder',
        tokens: TokenInfo[],
        truncated: boolean,
      ) => listener({ type: 'tokens', id, stack, tokens, truncated }),
      onChunk: (id: number, chunk: TraceChunk, queryStart = 0) =>
        listener({ type: 'chunk', id, chunk, queryStart, sentAt: 0 }),
      onDone: (id: number, predictions: Prediction[], timings: Timings) =>
        listener({ type: 'done', id, predictions, timings }),
      onError: (id: number, code: ErrorCode, message: string) =>
        listener({ type: 'error', id, code, message }),
      onNotice: (message: string, offerRestart = false) =>
        listener({ type: 'notice', level: offerRestart ? 'error' : 'info', message, offerRestart }),
    };
  }
  cancelLoad() {
    this.calls.push({ kind: 'cancel-load' });
  }
  restart() {
    this.calls.push({ kind: 'restart' });
  }
  modelCache(clear: boolean) {
    this.calls.push({ kind: 'model-cache', clear });
  }
  load(source: ModelSource) {
    const id = this.nextId++;
    this.calls.push({ kind: 'load', id, source });
    return id;
  }
  run(input: RunInput, interventions: Interventions, opts: RunOptions) {
    const id = this.nextId++;
    this.calls.push({ kind: 'run', id, input, interventions, opts });
    return id;
  }
  generate(interventions: Interventions, opts: RunOptions) {
    const id = this.nextId++;
    this.calls.push({ kind: 'generate', id, interventions, opts });
    return id;
  }
  analyse(input: RunInput, analysis: AnalysisRequest, interventions?: Interventions) {
    const id = this.nextId++;
    this.calls.push({ kind: 'analyse', id, input, analysis, interventions });
    return id;
  }
  detail(run: number, layer: LayerRef, captureQKV: boolean) {
    this.calls.push({ kind: 'detail', run, layer, captureQKV });
  }
  cancel() {
    this.calls.push({ kind: 'cancel' });
  }
  measureRnnVsAttention(maxN: number, timeBoundMs: number) {
    const id = this.nextId++;
    this.calls.push({ kind: 'rnn', id, maxN, timeBoundMs });
    return id;
  }
  askTokenizer(query: TokenizerQuery) {
    const id = this.nextId++;
    this.calls.push({ kind: 'tokenizer', id, query });
    return id;
  }
  dispose() {
    this.disposed = true;
  }
  last<K extends Call['kind']>(kind: K): Extract<Call, { kind: K }> {
    const found = this.calls.filter((c) => c.kind === kind);
    return found[found.length - 1] as Extract<Call, { kind: K }>;
  }
}

const config = (norm: 'pre' | 'post' = 'pre', architecture = 'decoder-only') =>
  parseConfig({
    model_type: 'attention-lab',
    architecture,
    n_embd: 8,
    n_head: 2,
    n_layer: 2,
    n_encoder_layer: 1,
    vocab_size: 20,
    n_positions: 32,
    norm_placement: norm,
  });

const info = (
  name: string,
  norm: 'pre' | 'post' = 'pre',
  architecture = 'decoder-only',
): ModelInfo => ({
  name,
  config: config(norm, architecture),
  tokenizer: 'chars',
  parameterCount: 100,
  weightBytes: 400,
  halfWeights: 0,
  weightsFile: { bytes: 400, from: 'network' },
  memory: { tensorBytes: 400, gpuBytes: null },
  loadMs: 1,
});

function layerChunk(layer: number, value: number): LayerChunk {
  const m = (shape: number[]) => ({
    shape,
    data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value),
  });
  return {
    type: 'layer',
    stack: 'decoder',
    layer,
    attentions: [
      {
        kind: 'self',
        causal: true,
        scores: m([2, 2, 2]),
        probs: m([2, 2, 2]),
        mask: m([2, 2]),
        headGate: new Float32Array([1, 1]),
      },
    ],
    norms: [],
    residual: [],
    hidden: m([2, 8]),
  };
}

const embedding: TraceChunk = {
  type: 'embedding',
  stack: 'decoder',
  inputIds: [1, 2],
  hidden: { shape: [2, 8], data: new Float32Array(16) },
};

const timings = { forwardMs: 5, readbackMs: 1, transferMs: 1, totalMs: 7 };
const index = {
  default: 'prenorm',
  models: [
    { name: 'prenorm', title: 'Pre-norm LM', description: 'GPT-style, pre-norm' },
    { name: 'postnorm', title: 'Post-norm twin', description: 'the same, post-norm' },
  ],
};

let engines: FakeEngine[];
let store: LabStore;
const main = () => engines[0];

function makeStore(hash = '#text=ab', deps: Partial<StoreDeps> = {}) {
  engines = [];
  store = createLabStore({
    createEngine: (events, role) => {
      expect(role).toBe(engines.length === 0 ? 'main' : 'compare');
      const e = new FakeEngine(events);
      engines.push(e);
      return e;
    },
    fetchIndex: async () => index,
    fetchJson: async (url) => {
      if (url === 'models/prenorm/training.json') return { steps: [0, 1], train_loss: [3, 2] };
      throw new Error('404');
    },
    debounceMs: 50,
    initialView: parseView(hash),
    sampleText: 'sample',
    ...deps,
  });
  return store;
}

async function loaded(hash?: string) {
  makeStore(hash);
  await store.getState().fetchModelIndex();
  const load = main().last('load');
  main().events.onLoaded(info('prenorm'));
  return load;
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('store: loading and running', () => {
  it('loads the default model from the index, then runs the input from the URL', async () => {
    const load = await loaded();
    expect(load.source).toEqual({ kind: 'shipped', name: 'prenorm' });
    const run = main().last('run');
    expect(run.input).toEqual({ text: 'ab' });
    expect(run.interventions).toEqual({ causalMask: true, usePositions: true, ablatedHeads: [] });
    // The default tab is the step-through, which needs q/k/v.
    expect(run.opts.captureQKV).toBe(true);
    expect(store.getState().run?.id).toBe(run.id);
    expect(store.getState().training.prenorm).toEqual({ steps: [0, 1], trainLoss: [3, 2] });
  });

  it('asks for a named model from the URL, and says so when it does not exist', async () => {
    makeStore('#model=postnorm');
    await store.getState().fetchModelIndex();
    expect(main().last('load').source).toEqual({ kind: 'shipped', name: 'postnorm' });
    makeStore('#model=nope');
    await store.getState().fetchModelIndex();
    expect(main().last('load').source).toEqual({ kind: 'shipped', name: 'prenorm' });
    expect(store.getState().notices[0].text).toMatch(/no shipped model "nope"/);
  });

  it('assembles chunks of the request in flight and drops those of a superseded one', async () => {
    await loaded();
    const first = main().last('run').id;
    main().events.onChunk(first, embedding);
    main().events.onChunk(first, layerChunk(1, 0.5));
    expect(store.getState().run?.trace.decoder?.layers[1].attentions[0].probs.data[0]).toBe(0.5);

    store.getState().setCausalMask(false);
    // No cancel: the new request supersedes the old one in the worker.
    expect(main().calls.some((c) => c.kind === 'cancel')).toBe(false);
    // Interventions are on and the first run never finished: the unmodified baseline runs
    // first, then the run shown.
    const baseline = main().last('run');
    expect(baseline.interventions.causalMask).toBe(true);
    expect(baseline.opts).toEqual({ captureQKV: false, topK: 10, trace: false });
    main().events.onChunk(first, layerChunk(0, 0.9)); // late chunk of the superseded request
    main().events.onChunk(baseline.id, layerChunk(0, 0.7)); // baseline chunks are never shown
    expect(store.getState().run).toBeNull();
    main().events.onDone(baseline.id, [{ id: 3, piece: 'c', prob: 0.6 }], timings);
    expect(store.getState().baseline?.predictions[0].prob).toBe(0.6);

    const shown = main().last('run');
    expect(shown.interventions.causalMask).toBe(false);
    expect(store.getState().run?.id).toBe(shown.id);
    main().events.onTokens(
      shown.id,
      'decoder',
      [
        { id: 1, piece: 'a' },
        { id: 2, piece: 'b' },
      ],
      false,
    );
    main().events.onChunk(shown.id, embedding);
    main().events.onChunk(shown.id, layerChunk(0, 0.25));
    main().events.onDone(shown.id, [{ id: 3, piece: 'c', prob: 0.4 }], timings);
    const run = store.getState().run!;
    expect(run.done).toBe(true);
    expect(run.interventions.causalMask).toBe(false);
    expect(run.trace.decoder?.layers[0].attentions[0].probs.data[0]).toBe(0.25);
    expect(run.tokens.decoder?.map((t) => t.piece)).toEqual(['a', 'b']);
    expect(store.getState().inFlight).toBeNull();

    // Switching back needs no baseline any more: one plain run.
    const before = main().calls.length;
    store.getState().setCausalMask(true);
    expect(
      main()
        .calls.slice(before)
        .filter((c) => c.kind === 'run'),
    ).toHaveLength(1);
  });

  it('reuses a finished run of the unmodified model as the baseline: one forward per intervention', async () => {
    await loaded();
    const plain = main().last('run');
    main().events.onDone(plain.id, [{ id: 3, piece: 'c', prob: 0.6 }], timings);
    const requests = () => main().calls.filter((c) => c.kind === 'run' || c.kind === 'generate');
    const before = requests().length;
    store.getState().toggleAblation({ stack: 'decoder', layer: 0, head: 1 });
    expect(requests()).toHaveLength(before + 1);
    const ablated = main().last('run');
    expect(ablated.opts.trace).toBeUndefined();
    expect(ablated.interventions.ablatedHeads).toHaveLength(1);
    expect(store.getState().baseline?.predictions).toEqual([{ id: 3, piece: 'c', prob: 0.6 }]);
    main().events.onDone(ablated.id, [{ id: 4, piece: 'd', prob: 0.5 }], timings);
    // Another intervention on the same text: still one forward.
    store.getState().setUsePositions(false);
    expect(requests()).toHaveLength(before + 2);
    main().events.onDone(main().last('run').id, [], timings);
    // New text under interventions: its baseline has to be computed once, untraced.
    store.getState().setText('abc');
    vi.advanceTimersByTime(60);
    expect(requests()).toHaveLength(before + 3);
    expect(main().last('run').opts.trace).toBe(false);
  });

  it('a generated step grows the trace it continues; other layers keep their identity', async () => {
    await loaded();
    const first = main().last('run').id;
    main().events.onChunk(first, embedding);
    main().events.onChunk(first, layerChunk(0, 0.5));
    main().events.onChunk(first, layerChunk(1, 0.5));
    main().events.onDone(first, [], timings);
    const before = store.getState().run!.trace.decoder!;
    store.getState().generateNext();
    const step = main().last('generate').id;
    // Until its chunks arrive the step shows the trace it extends.
    expect(store.getState().run?.trace.decoder).toBe(before);
    const row = (layer: number): LayerChunk => {
      const c = layerChunk(layer, 0.25);
      const m = (shape: number[]) => ({
        shape,
        data: new Float32Array(shape.reduce((a, b) => a * b)),
      });
      return {
        ...c,
        attentions: [
          { ...c.attentions[0], scores: m([2, 1, 3]), probs: m([2, 1, 3]), mask: m([1, 3]) },
        ],
        hidden: m([1, 8]),
      };
    };
    main().events.onChunk(step, row(0), 2);
    const after = store.getState().run!.trace.decoder!;
    expect(after.layers[0].attentions[0].probs.shape).toEqual([2, 3, 3]);
    expect(after.layers[1]).toBe(before.layers[1]);
    expect(after.embedding).toBe(before.embedding);
  });

  it("asks once for a long input's focused layer in full, and keeps one layer in full", async () => {
    await loaded();
    const run = main().last('run');
    // The run names the layer it wants in full: the focused one.
    expect(run.opts.detail).toEqual({ stack: 'decoder', layer: 0 });
    const summarised = (layer: number, full: boolean): LayerChunk => {
      const c = layerChunk(layer, 0.5);
      const summary = {
        kind: 'self' as const,
        causal: true,
        pooled: c.attentions[0].probs,
        pooledMask: c.attentions[0].mask,
        factor: 1,
        headGate: c.attentions[0].headGate,
        metrics: [],
        tallies: [],
      };
      return { ...c, attentions: full ? c.attentions : [], summaries: [summary] };
    };
    main().events.onChunk(run.id, embedding);
    main().events.onChunk(run.id, summarised(0, true));
    main().events.onChunk(run.id, summarised(1, false));
    const details = () => main().calls.filter((c) => c.kind === 'detail');
    expect(details()).toEqual([]);
    store.getState().setFocus({ stack: 'decoder', kind: 'self', layer: 1, head: 0 });
    store.getState().setFocus({ stack: 'decoder', kind: 'self', layer: 1, head: 1 });
    expect(details()).toEqual([
      { kind: 'detail', run: run.id, layer: { stack: 'decoder', layer: 1 }, captureQKV: true },
    ]);
    const [summaryOf0, summaryOf1] = store
      .getState()
      .run!.trace.decoder!.layers.map((l) => l.summaries);
    // The worker answers with the exact matrices only; the summaries the run sent stay.
    main().events.onChunk(run.id, { ...summarised(1, true), summaries: undefined });
    const layers = store.getState().run!.trace.decoder!.layers;
    expect(layers.map((l) => l.attentions.length)).toEqual([0, 1]);
    expect(layers.map((l) => l.summaries)).toEqual([summaryOf0, summaryOf1]);
    expect(layers[0].summaries).toBe(summaryOf0);
    // Back to layer 0: asked for again, since the page no longer holds it.
    store.getState().setFocus({ stack: 'decoder', kind: 'self', layer: 0, head: 0 });
    expect(details().map((c) => c.kind === 'detail' && c.layer.layer)).toEqual([1, 0]);
  });

  it("a long input's step-through asks for the focused layer's q, k and v, not a whole forward", async () => {
    await loaded('#text=ab&tab=heads');
    const run = main().last('run');
    expect(run.opts.captureQKV).toBe(false);
    const m = (shape: number[]) => ({
      shape,
      data: new Float32Array(shape.reduce((a, b) => a * b)),
    });
    const summarised = (layer: number, full: boolean, qkv = false): LayerChunk => {
      const c = layerChunk(layer, 0.5);
      const a = c.attentions[0];
      const summary = {
        kind: 'self' as const,
        causal: true,
        pooled: a.probs,
        pooledMask: a.mask,
        factor: 1,
        headGate: a.headGate,
        metrics: [],
        tallies: [],
      };
      const exact = qkv ? [{ ...a, q: m([2, 2, 4]), k: m([2, 2, 4]), v: m([2, 2, 4]) }] : [a];
      return { ...c, attentions: full ? exact : [], summaries: [summary] };
    };
    main().events.onChunk(run.id, embedding);
    main().events.onChunk(run.id, summarised(0, true));
    main().events.onChunk(run.id, summarised(1, false));
    main().events.onDone(run.id, [], timings);
    const runs = () => main().calls.filter((c) => c.kind === 'run').length;
    const details = () => main().calls.filter((c) => c.kind === 'detail');
    const runsBefore = runs();
    store.getState().setTab('step');
    store.getState().setTab('heads');
    store.getState().setTab('step');
    expect(runs()).toBe(runsBefore);
    expect(details()).toEqual([
      { kind: 'detail', run: run.id, layer: { stack: 'decoder', layer: 0 }, captureQKV: true },
    ]);
    main().events.onChunk(run.id, { ...summarised(0, true, true), summaries: undefined });
    expect(store.getState().run!.trace.decoder!.layers[0].attentions[0].q).toBeDefined();
    // Held now: the tab coming back asks for nothing; another layer comes with its q, k and v.
    store.getState().setTab('heads');
    store.getState().setTab('step');
    store.getState().setFocus({ stack: 'decoder', kind: 'self', layer: 1, head: 0 });
    expect(details().map((c) => c.kind === 'detail' && [c.layer.layer, c.captureQKV])).toEqual([
      [0, true],
      [1, true],
    ]);
    expect(runs()).toBe(runsBefore);
  });

  it('a short input without q, k and v runs again for the step-through', async () => {
    await loaded('#text=ab&tab=heads');
    const run = main().last('run');
    main().events.onChunk(run.id, embedding);
    main().events.onChunk(run.id, layerChunk(0, 0.5));
    main().events.onChunk(run.id, layerChunk(1, 0.5));
    main().events.onDone(run.id, [], timings);
    store.getState().setTab('step');
    expect(main().last('run').id).not.toBe(run.id);
    expect(main().last('run').opts.captureQKV).toBe(true);
    expect(main().calls.some((c) => c.kind === 'detail')).toBe(false);
  });

  it('keeps the model on screen usable while another loads; a cancelled load changes nothing', async () => {
    await loaded();
    main().events.onDone(main().last('run').id, [], timings);
    store.getState().loadModel('postnorm');
    expect(store.getState().loadId).not.toBeNull();
    store.getState().setText('abc');
    vi.advanceTimersByTime(60);
    expect(main().last('run').input).toEqual({ text: 'abc' });
    store.getState().cancelLoad();
    expect(main().last('cancel-load')).toEqual({ kind: 'cancel-load' });
    expect(store.getState()).toMatchObject({ loadId: null, modelName: 'prenorm' });
    expect(store.getState().modelInfo?.name).toBe('prenorm');
    // A failed load also goes back to the model on screen.
    store.getState().loadModel('postnorm');
    main().events.onError(main().last('load').id, 'fetch-failed', 'No bytes from … for 30 s');
    expect(store.getState()).toMatchObject({ loadId: null, modelName: 'prenorm' });
    expect(store.getState().notices.at(-1)?.text).toMatch(/Could not load the model: No bytes/);
    // …while the link still asks for the model that failed (bug 8); a cancel gives it up.
    expect(viewOf(store.getState()).model).toBe('postnorm');
    store.getState().loadModel('postnorm');
    store.getState().cancelLoad();
    expect(viewOf(store.getState()).model).toBe('');
  });

  it('opens on the model’s example when the URL names no input, and offers it after a switch', async () => {
    const guide = {
      name: 'postnorm',
      title: 'Post-norm twin',
      description: 'the same, post-norm',
      howTo: 'type things',
      example: { text: 'abab', head: 'd1.1', query: 3 },
    };
    const plain = index.models[1];
    index.models[1] = guide;
    try {
      makeStore('#model=postnorm', { exampleOnLoad: true, sampleText: undefined });
      await store.getState().fetchModelIndex();
      main().events.onLoaded(info('postnorm', 'post'));
      expect(store.getState()).toMatchObject({
        text: 'abab',
        query: 3,
        focus: { stack: 'decoder', layer: 1, head: 1, kind: 'self' },
      });
      expect(main().last('run').input).toEqual({ text: 'abab' });
      // Typed over, then back: the example is offered (applyExample), not forced.
      store.getState().setText('xyz');
      store.getState().loadModel('prenorm');
      main().events.onLoaded(info('prenorm'));
      store.getState().loadModel('postnorm');
      main().events.onLoaded(info('postnorm', 'post'));
      expect(store.getState().text).toBe('xyz');
      store.getState().applyExample();
      expect(store.getState().text).toBe('abab');
      expect(main().last('run').input).toEqual({ text: 'abab' });
    } finally {
      index.models[1] = plain;
    }
  });

  it('shows a notice that offers a restart, and restarts the engine on request', async () => {
    await loaded();
    main().events.onNotice('The model worker has not answered for 120 s', true);
    expect(store.getState().notices.at(-1)).toMatchObject({ level: 'error', action: 'restart' });
    store.getState().restartEngine();
    expect(main().last('restart')).toEqual({ kind: 'restart' });
  });

  it('shows what a load says about itself (cached copies used offline) as notices', async () => {
    await loaded();
    store.getState().loadFrom('https://example.org/m/');
    const offline = 'm is loaded from the cache: the server could not be asked for a newer version';
    main().events.onLoaded({ ...info('m'), notices: [offline] });
    expect(store.getState().notices.at(-1)).toMatchObject({ level: 'info', text: offline });
  });

  it('debounces typing into one run and does not run empty input', async () => {
    await loaded();
    main().events.onDone(main().last('run').id, [], timings);
    const runs = () => main().calls.filter((c) => c.kind === 'run').length;
    const before = runs();
    store.getState().setText('abc');
    store.getState().setText('abcd');
    expect(runs()).toBe(before);
    vi.advanceTimersByTime(60);
    expect(runs()).toBe(before + 1);
    expect(main().last('run').input).toEqual({ text: 'abcd' });
    store.getState().setText('   ');
    vi.advanceTimersByTime(60);
    expect(runs()).toBe(before + 1);
    expect(store.getState().run).toBeNull();
  });

  it('reports errors on the run and as a notice, except for empty input', async () => {
    await loaded();
    const id = main().last('run').id;
    main().events.onError(id, 'context-full', 'too long');
    expect(store.getState().run?.error).toEqual({ code: 'context-full', message: 'too long' });
    expect(store.getState().notices.at(-1)).toMatchObject({ level: 'error', text: 'too long' });
    store.getState().loadModel('postnorm');
    main().events.onError(main().last('load').id, 'bad-model', 'corrupt safetensors');
    expect(store.getState().notices.at(-1)?.text).toMatch(/Could not load the model: corrupt/);
    main().events.onNotice('fell back to wasm');
    expect(store.getState().notices.at(-1)).toMatchObject({
      level: 'info',
      text: 'fell back to wasm',
    });
  });

  it('starts an encoder–decoder model from an empty target rather than the sample text', async () => {
    makeStore('#src=3%20March%201999');
    store.setState({ text: 'sample' });
    await store.getState().fetchModelIndex();
    main().events.onLoaded(info('dates', 'post', 'encoder-decoder'));
    expect(store.getState().text).toBe('');
    expect(main().last('run').input).toEqual({ sourceText: '3 March 1999', text: '' });
  });

  it('generates the next token after a finished run and appends it to the text', async () => {
    await loaded();
    const id = main().last('run').id;
    main().events.onDone(id, [{ id: 3, piece: 'c', prob: 1 }], timings);
    store.getState().generateNext();
    const gen = main().last('generate');
    main().events.onTokens(
      gen.id,
      'decoder',
      [1, 2, 3].map((i) => ({ id: i, piece: 'abc'[i - 1] })),
      false,
    );
    // The worker's decoded text of what it generated, not the piece: a newline's piece is `↵`.
    main().listener({
      type: 'done',
      id: gen.id,
      predictions: [],
      timings,
      continuation: { text: 'c\n', ended: false },
    });
    expect(store.getState().text).toBe('abc\n');
    expect(store.getState().query).toBe(2);
  });

  it('keeps the run a generation step extends when the step fails', async () => {
    await loaded();
    const id = main().last('run').id;
    main().events.onTokens(id, 'decoder', [{ id: 1, piece: 'a' }], false);
    main().events.onChunk(id, embedding);
    main().events.onDone(id, [{ id: 3, piece: 'c', prob: 1 }], timings);
    const before = store.getState().run;
    store.getState().generateNext();
    const gen = main().last('generate');
    main().events.onError(gen.id, 'context-full', 'the context is full');
    expect(store.getState().run).toBe(before);
    expect(store.getState().inFlight).toBeNull();
    expect(store.getState().notices[0].text).toMatch(/context is full/);
  });

  it('keeps the source tokens while an encoder–decoder generates', async () => {
    makeStore('#src=3%20March%201999');
    await store.getState().fetchModelIndex();
    main().events.onLoaded(info('dates', 'post', 'encoder-decoder'));
    const id = main().last('run').id;
    const source = [{ id: 4, piece: '3' }];
    main().events.onTokens(id, 'encoder', source, false);
    main().events.onTokens(id, 'decoder', [{ id: 1, piece: '<s>' }], false);
    main().events.onDone(id, [{ id: 5, piece: '1', prob: 1 }], timings);
    store.getState().generateNext();
    const gen = main().last('generate');
    // A step's worker says only the decoder's tokens.
    main().events.onTokens(
      gen.id,
      'decoder',
      [
        { id: 1, piece: '<s>' },
        { id: 5, piece: '1' },
      ],
      false,
    );
    main().events.onDone(gen.id, [], timings);
    expect(store.getState().run?.tokens.encoder).toEqual(source);
    expect(store.getState().run?.tokens.decoder).toHaveLength(2);
  });

  it('times the forward pass per length, skipping warm-ups, then reruns the input', async () => {
    await loaded();
    main().events.onDone(main().last('run').id, [], timings);
    store.getState().measureCost();
    const lengths: number[] = [];
    for (;;) {
      const f = store.getState().inFlight;
      if (!f) break;
      const call = main().last('run');
      if (f.purpose === 'main') break;
      expect(call.opts.trace).toBe(false);
      lengths.push(call.input.ids!.length);
      main().events.onDone(f.id, [], { ...timings, forwardMs: call.input.ids!.length });
    }
    expect(lengths).toEqual([8, 8, 16, 16, 32, 32]);
    expect(store.getState().measurements.map((m) => [m.n, m.forwardMs])).toEqual([
      [8, 8],
      [16, 16],
      [32, 32],
    ]);
    expect(main().last('run').input).toEqual({ text: 'ab' });
  });
});

describe('store: view, URL and comparison', () => {
  it('round-trips the view through the URL hash and reruns when the input part changes', async () => {
    await loaded('#text=ab&tab=metrics&head=d1.1&q=1');
    expect(store.getState().query).toBe(1);
    expect(store.getState().focus).toEqual({ stack: 'decoder', layer: 1, head: 1, kind: 'self' });
    const hash = serializeView(viewOf(store.getState()));
    expect(parseView(hash)).toEqual({
      ...DEFAULT_VIEW,
      query: 1,
      text: 'ab',
      tab: 'metrics',
      focus: store.getState().focus,
    });
    const runs = main().calls.filter((c) => c.kind === 'run').length;
    store.getState().applyView(parseView('#text=ab&tab=metrics&theme=dark'));
    expect(store.getState().theme).toBe('dark');
    expect(main().calls.filter((c) => c.kind === 'run').length).toBe(runs);
    store.getState().applyView(parseView('#text=xyz&ablate=d0.1'));
    expect(main().last('run').input).toEqual({ text: 'xyz' });
    // A pasted link to another model loads it; one naming no model goes back to the default.
    store.getState().applyView(parseView('#model=postnorm&text=xyz'));
    expect(main().last('load').source).toEqual({ kind: 'shipped', name: 'postnorm' });
    main().events.onLoaded(info('postnorm', 'post'));
    store.getState().applyView(parseView('#text=xyz'));
    expect(main().last('load').source).toEqual({ kind: 'shipped', name: 'prenorm' });
  });

  it('clamps the focused head to the model and ablates heads on and off', async () => {
    await loaded('#text=ab&head=d7.9');
    expect(store.getState().focus).toEqual({ stack: 'decoder', layer: 1, head: 1, kind: 'self' });
    store.getState().toggleAblation({ stack: 'decoder', layer: 0, head: 1 });
    const job = store.getState().inFlight;
    expect(job?.purpose).toBe('baseline');
    expect(job?.purpose === 'baseline' && job.then.interventions.ablatedHeads).toEqual([
      { stack: 'decoder', layer: 0, head: 1 },
    ]);
    store.getState().toggleAblation({ stack: 'decoder', layer: 0, head: 1 });
    expect(store.getState().ablated).toEqual([]);
  });

  it('compares against the twin with the other norm placement on a second engine', async () => {
    await loaded();
    store.getState().openCompare('');
    expect(engines).toHaveLength(2);
    const second = engines[1];
    expect(second.last('load').source).toEqual({ kind: 'shipped', name: 'postnorm' });
    second.events.onLoaded(info('postnorm', 'post'));
    const run = second.last('run');
    expect(run.input).toEqual({ text: 'ab' });
    second.events.onChunk(run.id, layerChunk(0, 0.3));
    second.events.onDone(run.id, [], timings);
    expect(store.getState().compare?.run?.done).toBe(true);
    expect(store.getState().compare?.run?.trace).toEqual({});
    // Main engine untouched by the comparison.
    expect(store.getState().run?.trace).toEqual({});
    store.getState().closeCompare();
    expect(second.disposed).toBe(true);
  });
});

describe('store: the interpretability tools', () => {
  const answer = (id: number, result: Partial<AnalysisResult>) =>
    main().listener({ type: 'analysis', id, result: result as AnalysisResult, ms: 1 });

  it('asks the tools one at a time while the tab is open, and again when the input changes', async () => {
    await loaded('#text=ab&tab=interpret');
    const analyses = () => main().calls.filter((c) => c.kind === 'analyse');
    const ab = [1, 2].map((i) => ({ id: i, piece: 'ab'[i - 1] }));
    main().events.onTokens(main().last('run').id, 'decoder', ab, false);
    main().events.onDone(main().last('run').id, [], timings);
    expect(analyses().map((c) => c.analysis.tool)).toEqual(['logit-lens']);
    answer(main().last('analyse').id, { tool: 'logit-lens' });
    expect(main().last('analyse').analysis).toEqual({ tool: 'logit-attribution' });
    answer(main().last('analyse').id, { tool: 'logit-attribution' });
    // No corrupted prompt yet: no patching.
    expect(analyses()).toHaveLength(2);
    expect(store.getState().interpretPending).toBeNull();
    store.getState().setCorruptedText('ac');
    expect(main().last('analyse').analysis).toEqual({
      tool: 'activation-patching',
      corrupted: { text: 'ac' },
    });
    main().events.onError(main().last('analyse').id, 'bad-input', 'not the same length');
    expect(store.getState().interpret.patching.error).toBe('not the same length');
    store.getState().setLensPosition(0);
    expect(main().last('analyse').analysis).toEqual({ tool: 'logit-lens', topK: 5, position: 0 });
    // A position beyond the text on screen reads the last one instead: the answer on screen is
    // for it already, so nothing is asked (and the request for position 0 is dropped).
    const count = analyses().length;
    store.getState().setLensPosition(7);
    expect(analyses()).toHaveLength(count);
    expect(store.getState().interpretPending).toBeNull();
    // Its late error is dropped, not shown as a notice.
    const notices = store.getState().notices.length;
    main().events.onError(main().last('analyse').id, 'bad-input', 'stale');
    expect(store.getState().notices).toHaveLength(notices);
    store.getState().setLensPosition(0);
    // A run sent after the analysis stops it in the worker: its end asks again.
    const lens = main().last('analyse').id;
    store.getState().setText('abc');
    vi.advanceTimersByTime(100);
    main().events.onDone(main().last('run').id, [], timings);
    expect(main().last('analyse').id).toBeGreaterThan(lens);
    expect(main().last('analyse').input).toEqual({ text: 'abc' });
    expect(store.getState().interpret.lens.result?.tool).toBe('logit-lens');
  });

  it('reads the model under the sidebar’s interventions, and asks again when they change', async () => {
    await loaded('#text=ab&tab=interpret');
    main().events.onDone(main().last('run').id, [], timings);
    expect(main().last('analyse').interventions).toEqual(DEFAULT_INTERVENTIONS);
    answer(main().last('analyse').id, { tool: 'logit-lens' });
    answer(main().last('analyse').id, { tool: 'logit-attribution' });
    const head = { stack: 'decoder' as const, layer: 0, head: 1 };
    store.getState().toggleAblation(head);
    // The baseline (unmodified) run, then the run under the ablation.
    main().events.onDone(main().last('run').id, [], timings);
    main().events.onDone(main().last('run').id, [], timings);
    const lens = main().last('analyse');
    expect(lens.analysis.tool).toBe('logit-lens');
    expect(lens.interventions).toEqual({ ...DEFAULT_INTERVENTIONS, ablatedHeads: [head] });
  });

  it('asks nothing while another tab is shown, nor a tool that cannot read the model', async () => {
    await loaded('#text=ab&tab=heads');
    main().events.onDone(main().last('run').id, [], timings);
    expect(main().calls.some((c) => c.kind === 'analyse')).toBe(false);
    // Post-norm: no attribution; the lens and patching still run.
    makeStore('#text=ab&tab=interpret');
    await store.getState().fetchModelIndex();
    main().events.onLoaded(info('postnorm', 'post'));
    store.getState().setCorruptedText('ac');
    main().events.onDone(main().last('run').id, [], timings);
    answer(main().last('analyse').id, { tool: 'logit-lens' });
    expect(main().last('analyse').analysis.tool).toBe('activation-patching');
  });
});

describe('model shape helpers', () => {
  it('lists attention blocks and clamps focus for an encoder–decoder model', () => {
    const cfg = config('post', 'encoder-decoder');
    expect(attentionBlocks(cfg).map((b) => `${b.stack}/${b.kind}/${b.layers}`)).toEqual([
      'encoder/self/1',
      'decoder/self/2',
      'decoder/cross/2',
    ]);
    expect(clampFocus(cfg, { stack: 'encoder', layer: 5, head: 0, kind: 'cross' })).toEqual({
      stack: 'encoder',
      layer: 0,
      head: 0,
      kind: 'self',
    });
    expect(clampFocus(config(), { stack: 'encoder', layer: 0, head: 0, kind: 'self' }).stack).toBe(
      'decoder',
    );
  });

  it('picks the comparison model by its norm placement', () => {
    expect(pickCompareModel(index.models, 'prenorm', 'pre')).toBe('postnorm');
    expect(pickCompareModel(index.models, 'postnorm', 'post')).toBe('prenorm');
    expect(pickCompareModel(index.models.slice(0, 1), 'prenorm', 'pre')).toBe('');
  });
});

describe('selectors', () => {
  const att = (kind: 'self' | 'cross', rows: number, cols: number, gate = [1, 1]) => {
    const probs = new Float32Array(2 * rows * cols).map(
      (_, i) => (i % cols) / 10 + Math.floor(i / (rows * cols)),
    );
    return {
      kind,
      causal: kind === 'self',
      scores: { shape: [2, rows, cols], data: probs.map((p) => -p) },
      probs: { shape: [2, rows, cols], data: probs },
      mask: { shape: [rows, cols], data: new Float32Array(rows * cols).fill(1) },
      headGate: Float32Array.from(gate),
    };
  };
  const run = (): RunState => ({
    id: 4,
    input: { text: 'ab c' },
    interventions: {
      causalMask: false,
      usePositions: true,
      ablatedHeads: [{ stack: 'decoder', layer: 0, head: 1 }],
    },
    captureQKV: false,
    trace: {
      encoder: { embedding, layers: [] },
      decoder: {
        embedding,
        layers: [
          { ...layerChunk(0, 0), attentions: [att('self', 4, 4, [1, 0]), att('cross', 4, 3)] },
        ],
      },
    },
    tokens: {
      decoder: ['a', 'b', ' ', 'c'].map((piece, id) => ({ id, piece })),
      encoder: ['x', 'y', 'z'].map((piece, id) => ({ id, piece })),
    },
    truncated: {},
    done: true,
    computedFrom: 0,
    predictions: [],
    timings: null,
    error: null,
    continuation: null,
  });

  const matrixOf = (focus: HeadFocus, mode: 'probs' | 'scores', words: boolean) => {
    const r = run();
    return headMatrix(attentionOf(r, focus), axisTokens(r.tokens, focus), focus.head, mode, words);
  };

  it('picks the focused head, its labels, and cross-attention keys from the encoder', () => {
    const m = matrixOf({ stack: 'decoder', layer: 0, head: 1, kind: 'cross' }, 'probs', false)!;
    expect([m.rows, m.cols]).toEqual([4, 3]);
    expect(m.colLabels).toEqual(['x', 'y', 'z']);
    expect(m.rowLabels).toEqual(['a', 'b', '·', 'c']);
    expect(Array.from(m.values.slice(0, 3))).toEqual([1, 1.1, 1.2].map(Math.fround));
    expect(
      matrixOf({ stack: 'decoder', layer: 1, head: 0, kind: 'self' }, 'probs', false),
    ).toBeNull();
    const scores = matrixOf(
      { stack: 'decoder', layer: 0, head: 0, kind: 'self' },
      'scores',
      false,
    )!;
    expect(scores.values[1]).toBeCloseTo(-0.1);
  });

  it('aggregates probabilities to words, never scores', () => {
    const focus = { stack: 'decoder', layer: 0, head: 0, kind: 'self' } as const;
    const words = matrixOf(focus, 'probs', true)!;
    expect(words.rowLabels).toEqual(['ab', '·c']);
    expect([words.rows, words.cols]).toEqual([2, 2]);
    // Word "ab" → word "ab": mean over 2 query pieces of p(→a) + p(→b) = 0 + 0.1.
    expect(words.values[0]).toBeCloseTo(0.1);
    expect(matrixOf(focus, 'scores', true)!.rows).toBe(4);
  });

  it('tells ablated heads and lists the counterfactuals of a run', () => {
    const a = attentionOf(run(), { stack: 'decoder', layer: 0, kind: 'self' });
    expect(isAblated(a, 1)).toBe(true);
    expect(isAblated(a, 0)).toBe(false);
    expect(axisTokens(run().tokens, { stack: 'decoder', kind: 'self' }).keys).toHaveLength(4);
    expect(counterfactuals(run().interventions, true)).toEqual([
      'causal mask off',
      '1 head ablated',
    ]);
    // An encoder-only model's own mask is none: `causalMask: false` turns a causal one on.
    expect(counterfactuals(run().interventions, false)).toEqual([
      'causal mask on',
      '1 head ablated',
    ]);
    expect(counterfactuals(null, true)).toEqual([]);
  });
});

describe('store: RNN against attention', () => {
  const row = (n: number) => ({
    n,
    rnnMs: n / 8,
    attentionMs: n / 16,
    rnnPath: n - 1,
    attentionPath: 1,
    attentionMatrixBytes: 2 * n * n * 4,
    rnnStateBytes: 32,
  });

  it('asks the main engine, grows rows as they come and keeps why it stopped', async () => {
    await loaded();
    store.getState().measureRnn(4096);
    const call = main().last('rnn');
    expect(call).toMatchObject({ maxN: 4096, timeBoundMs: RNN_TIME_BOUND_MS });
    main().listener({ type: 'rnn-row', id: call.id, row: row(8) });
    main().listener({ type: 'rnn-row', id: call.id + 99, row: row(16) }); // not this measurement
    main().listener({ type: 'rnn-row', id: call.id, row: row(16) });
    expect(store.getState().rnn).toMatchObject({ done: false, stop: null });
    main().listener({ type: 'rnn-done', id: call.id, stop: 'stopped after n = 16' });
    expect(store.getState().rnn).toMatchObject({ done: true, stop: 'stopped after n = 16' });
    expect(store.getState().rnn!.rows.map((r) => r.n)).toEqual([8, 16]);
  });

  it('ends the measurement on an error of its id, and leaves the run alone', async () => {
    await loaded();
    const run = store.getState().run;
    store.getState().measureRnn(64);
    const { id } = main().last('rnn');
    main().events.onError(id, 'no-model', 'no model is loaded yet');
    expect(store.getState().rnn).toMatchObject({ done: true, stop: 'no model is loaded yet' });
    expect(store.getState().run).toBe(run);
  });
});
