/**
 * The one store: slices for the model, the input, the interventions, the trace of the latest run,
 * the view, notices and the norm comparison. It owns the engine (the worker client) and keeps one
 * request in flight at a time, so a trace on screen always belongs to the request that made it.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import { assembleTrace, type TraceChunk } from '../../model/trace';
import { sourceFromText } from '../../client/modelSource';
import type {
  Interventions,
  ModelIndex,
  ModelInfo,
  ModelSource,
  RunInput,
} from '../../workers/protocol';
import { lengthsUpTo } from '../lib/cost';
import { parseTrainingCurve } from '../lib/norms';
import { ablationsIn, DEFAULT_VIEW, sameAblation, type ViewState } from '../lib/urlState';
import type { Engine, EngineEvents, EngineFactory } from './engine';
import { attentionBlocks, clampFocus, pickCompareModel } from './shape';
import type {
  CompareSlice,
  InputSlice,
  InterventionsSlice,
  Job,
  LabState,
  ModelSlice,
  NoticeSlice,
  RunState,
  TraceSlice,
  ViewSlice,
} from './types';

export interface StoreDeps {
  createEngine: EngineFactory;
  /** `models/index.json`, checked. */
  fetchIndex(): Promise<ModelIndex>;
  /** Any JSON file next to the page (training.json). */
  fetchJson(url: string): Promise<unknown>;
  /** Delay between the last keystroke and the run it triggers. */
  debounceMs?: number;
  /** The view to start from (the URL hash). */
  initialView?: ViewState;
  /**
   * The sample text the app starts with when the URL names none: it suits a language model, so an
   * encoder–decoder model starts from an empty target prefix instead.
   */
  sampleText?: string;
}

export type LabStore = StoreApi<LabState>;
type Set = StoreApi<LabState>['setState'];
type Get = StoreApi<LabState>['getState'];

export const TOP_K = 10;
const MAX_NOTICES = 6;
/** Lengths the cost panel times the forward pass at: powers of two from 8. */
const BENCH_MIN = 8;

export function interventionsOf(s: LabState): RunState['interventions'] {
  return { causalMask: s.causalMask, usePositions: s.usePositions, ablatedHeads: s.ablated };
}

export function isDefaultInterventions(i: Interventions): boolean {
  return i.causalMask && i.usePositions && i.ablatedHeads.length === 0;
}

const DEFAULT_INTERVENTIONS: Interventions = {
  causalMask: true,
  usePositions: true,
  ablatedHeads: [],
};

function isEncoderDecoder(info: ModelInfo | null): boolean {
  return info?.config.architecture === 'encoder-decoder';
}

export function inputOf(s: Pick<LabState, 'text' | 'sourceText' | 'modelInfo'>): RunInput | null {
  if (isEncoderDecoder(s.modelInfo)) {
    return s.sourceText.trim() ? { sourceText: s.sourceText, text: s.text } : null;
  }
  return s.text.trim() ? { text: s.text } : null;
}

/** What a baseline's predictions are valid for. */
export function inputKey(s: Pick<LabState, 'text' | 'sourceText' | 'modelName'>): string {
  return JSON.stringify([s.modelName, s.sourceText, s.text]);
}

function newRun(id: number, run: NonNullable<Job['run']>): RunState {
  return {
    id,
    ...run,
    chunks: [],
    trace: {},
    tokens: {},
    truncated: {},
    done: false,
    predictions: [],
    timings: null,
    error: null,
  };
}

function withChunk(run: RunState, chunk: TraceChunk): RunState {
  const chunks = [...run.chunks, chunk];
  return { ...run, chunks, trace: assembleTrace(chunks) };
}

// --- the job queue: one request in flight ---------------------------------------------------

function startNext(set: Set, get: Get): void {
  const { inFlight, pending, engine } = get();
  if (inFlight || pending.length === 0) return;
  const [job, ...rest] = pending;
  const id = job.start(engine);
  const patch: Partial<LabState> = { pending: rest, inFlight: { id, job } };
  if (job.run) patch.run = newRun(id, job.run);
  set(patch);
}

/** Drop whatever is queued or running and run `jobs` instead. */
function replaceJobs(set: Set, get: Get, jobs: Job[]): void {
  if (get().inFlight) get().engine.cancel();
  set({ inFlight: null, pending: jobs });
  startNext(set, get);
}

function finishJob(set: Set, get: Get): void {
  set({ inFlight: null });
  startNext(set, get);
}

/** Events of the main engine: everything not for the request in flight is stale and dropped. */
function mainEvents(set: Set, get: Get, deps: StoreDeps): EngineEvents {
  const current = (id: number) => {
    const f = get().inFlight;
    return f && f.id === id ? f.job : null;
  };
  const currentRun = (id: number) => {
    const job = current(id);
    const run = get().run;
    return job?.run && run && run.id === id ? run : null;
  };
  return {
    onBackend: (backend) => set({ backend }),
    onProgress: (p) => {
      if (p.id !== get().loadId) return;
      const at = performance.now();
      const startedAt = get().progress[p.stage]?.startedAt ?? at;
      set({
        progress: {
          ...get().progress,
          [p.stage]: { loaded: p.loaded, total: p.total, startedAt, at },
        },
      });
    },
    onLoaded: (info) => {
      const s = get();
      if (info.config.architecture === 'encoder-decoder' && s.text === deps.sampleText)
        set({ text: '' });
      set({
        modelInfo: info,
        loadId: null,
        focus: clampFocus(info.config, s.focus),
        ablated: ablationsIn(s.ablated, attentionBlocks(info.config), info.config.nHeads),
        run: null,
        baseline: null,
        measurements: [],
        // The first model keeps the query the URL asked for; switching models starts over.
        query: s.modelInfo ? 0 : s.query,
      });
      if (info.training !== undefined) {
        set({ training: { ...get().training, [info.name]: parseTrainingCurve(info.training) } });
      }
      get().runNow();
    },
    onTokens: (id, stack, tokens, truncated) => {
      const run = currentRun(id);
      if (!run) return;
      set({
        run: {
          ...run,
          tokens: { ...run.tokens, [stack]: tokens },
          truncated: { ...run.truncated, [stack]: truncated },
        },
      });
    },
    onChunk: (id, chunk) => {
      const run = currentRun(id);
      if (run) set({ run: withChunk(run, chunk) });
    },
    onDone: (id, predictions, timings) => {
      const job = current(id);
      if (!job) return;
      const s = get();
      if (job.purpose === 'baseline') set({ baseline: { key: job.key!, predictions } });
      if (job.purpose === 'bench' && !job.warmUp) {
        set({
          measurements: [
            ...s.measurements.filter((m) => m.n !== job.n),
            { n: job.n!, forwardMs: timings.forwardMs, backend: s.backend?.backend ?? '?' },
          ].sort((a, b) => a.n - b.n),
        });
      }
      const run = currentRun(id);
      if (run) {
        const patch: Partial<LabState> = { run: { ...run, done: true, predictions, timings } };
        if (job.purpose === 'generate') {
          // The worker appended a token to the input: show it in the text box too.
          const stackTokens = run.tokens.decoder ?? run.tokens.encoder ?? [];
          const appended = stackTokens[stackTokens.length - 1];
          if (appended) patch.text = s.text + appended.piece;
          patch.query = Math.max(0, stackTokens.length - 1);
        }
        set(patch);
      }
      finishJob(set, get);
    },
    onError: (id, code, message) => {
      const s = get();
      if (id === s.loadId) {
        set({ loadId: null, progress: {} });
        s.notify('error', `Could not load the model: ${message}`);
        return;
      }
      const job = current(id);
      if (!job) {
        // Not tied to a request (a crashed worker, say): still worth telling.
        if (s.inFlight === null) s.notify('error', message);
        return;
      }
      const run = currentRun(id);
      if (run) set({ run: { ...run, error: { code, message }, done: true } });
      if (code !== 'empty-input') s.notify('error', message);
      finishJob(set, get);
    },
    onNotice: (message) => get().notify('info', message),
    onCache: (cacheUsage) => set({ cacheUsage }),
  };
}

// --- slices ------------------------------------------------------------------------------------

function modelSlice(set: Set, get: Get, deps: StoreDeps, engine: Engine): ModelSlice {
  /** A model that is not one of the shipped ones: no name in the picker or the URL. */
  const loadOther = (source: ModelSource) => {
    if (get().inFlight) get().engine.cancel();
    const loadId = get().engine.load(source);
    set({ modelName: '', loadId, progress: {}, inFlight: null, pending: [] });
  };
  return {
    engine,
    models: [],
    defaultModel: '',
    modelName: deps.initialView?.model ?? '',
    modelInfo: null,
    loadId: null,
    progress: {},
    backend: null,
    cacheUsage: null,
    training: {},
    async fetchModelIndex() {
      try {
        const { models, default: defaultModel } = await deps.fetchIndex();
        set({ models, defaultModel });
        const wanted = get().modelName;
        const known = models.some((m) => m.name === wanted);
        if (wanted && !known)
          get().notify('error', `There is no shipped model "${wanted}"; loading the default.`);
        if (defaultModel || known) get().loadModel(known ? wanted : defaultModel);
      } catch (e) {
        get().notify('error', `Could not read the list of models: ${(e as Error).message}`);
      }
    },
    loadModel(name) {
      if (get().inFlight) get().engine.cancel();
      const loadId = get().engine.load({ kind: 'shipped', name });
      set({ modelName: name, loadId, progress: {}, inFlight: null, pending: [] });
      if (!(name in get().training)) void get().fetchTraining(name);
    },
    loadFiles(files) {
      loadOther({ kind: 'files', files });
    },
    loadFrom(text) {
      const source = sourceFromText(text);
      if (source) loadOther(source);
      else {
        get().notify(
          'error',
          `"${text.trim()}" is neither a Hugging Face model id (like gpt2 or Helsinki-NLP/opus-mt-en-it) nor an http(s) URL`,
        );
      }
    },
    clearModelCache() {
      get().engine.modelCache?.(true);
    },
    async fetchTraining(name) {
      let curve = null;
      try {
        curve = parseTrainingCurve(
          await deps.fetchJson(`models/${encodeURIComponent(name)}/training.json`),
        );
      } catch {
        // Untrained (random) models ship no training.json; the panel says so.
      }
      set({ training: { ...get().training, [name]: curve } });
    },
  };
}

function inputSlice(set: Set, get: Get, deps: StoreDeps): InputSlice {
  return {
    text: deps.initialView?.text ?? '',
    sourceText: deps.initialView?.sourceText ?? '',
    setText(text) {
      set({ text });
      get().requestRun();
    },
    setSourceText(sourceText) {
      set({ sourceText });
      get().requestRun();
    },
  };
}

function interventionsSlice(set: Set, get: Get, deps: StoreDeps): InterventionsSlice {
  const v = deps.initialView ?? DEFAULT_VIEW;
  return {
    causalMask: v.causalMask,
    usePositions: v.usePositions,
    ablated: v.ablated,
    setCausalMask(causalMask) {
      set({ causalMask });
      get().runNow();
    },
    setUsePositions(usePositions) {
      set({ usePositions });
      get().runNow();
    },
    toggleAblation(head) {
      const ablated = get().ablated.some((a) => sameAblation(a, head))
        ? get().ablated.filter((a) => !sameAblation(a, head))
        : [...get().ablated, head];
      set({ ablated });
      get().runNow();
    },
    clearAblations() {
      set({ ablated: [] });
      get().runNow();
    },
  };
}

function traceSlice(set: Set, get: Get, deps: StoreDeps): TraceSlice {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const mainJob = (s: LabState, input: RunInput): Job => {
    const run = { input, interventions: interventionsOf(s), captureQKV: s.tab === 'step' };
    return {
      purpose: 'main',
      run,
      start: (engine) =>
        engine.run(input, run.interventions, { captureQKV: run.captureQKV, topK: TOP_K }),
    };
  };
  return {
    run: null,
    baseline: null,
    measurements: [],
    inFlight: null,
    pending: [],
    requestRun() {
      clearTimeout(timer);
      timer = setTimeout(() => get().runNow(), deps.debounceMs ?? 200);
    },
    runNow() {
      clearTimeout(timer);
      const s = get();
      if (!s.modelInfo || s.loadId !== null) return;
      const input = inputOf(s);
      if (!input) {
        // Empty input: nothing to run; the input panel shows a hint instead.
        replaceJobs(set, get, []);
        set({ run: null });
        return;
      }
      const jobs: Job[] = [];
      const key = inputKey(s);
      if (!isDefaultInterventions(interventionsOf(s)) && s.baseline?.key !== key) {
        jobs.push({
          purpose: 'baseline',
          key,
          start: (engine) =>
            engine.run(input, DEFAULT_INTERVENTIONS, {
              captureQKV: false,
              topK: TOP_K,
              trace: false,
            }),
        });
      }
      jobs.push(mainJob(s, input));
      // While the baseline runs, the old trace no longer matches the controls: show none.
      if (jobs.length > 1) set({ run: null });
      replaceJobs(set, get, jobs);
    },
    generateNext() {
      const s = get();
      if (!s.run?.done || s.run.error || s.inFlight) return;
      const run = {
        input: s.run.input,
        interventions: interventionsOf(s),
        captureQKV: s.tab === 'step',
      };
      replaceJobs(set, get, [
        {
          purpose: 'generate',
          run,
          start: (engine) =>
            engine.generate(run.interventions, { captureQKV: run.captureQKV, topK: TOP_K }),
        },
      ]);
    },
    measureCost() {
      const s = get();
      const cfg = s.modelInfo?.config;
      const input = inputOf(s);
      if (!cfg || !input) return;
      const known = (s.run?.tokens.encoder ?? s.run?.tokens.decoder ?? []).map((t) => t.id);
      const source = known.length ? known : [0];
      const ids = (n: number) => Array.from({ length: n }, (_, i) => source[i % source.length]);
      const decoderIds = s.run?.tokens.decoder?.map((t) => t.id) ?? [cfg.decoderStartTokenId ?? 0];
      const jobs: Job[] = [];
      for (const n of lengthsUpTo(cfg.contextLength).filter((n) => n >= BENCH_MIN)) {
        const benchInput: RunInput = isEncoderDecoder(s.modelInfo)
          ? { sourceIds: ids(n), ids: decoderIds }
          : { ids: ids(n) };
        // The first run at a length compiles its shaders; only the second is timed.
        for (const warmUp of [true, false]) {
          jobs.push({
            purpose: 'bench',
            n,
            warmUp,
            start: (engine) =>
              engine.run(benchInput, DEFAULT_INTERVENTIONS, {
                captureQKV: false,
                topK: 1,
                trace: false,
              }),
          });
        }
      }
      // Finish with the user's own input again, so the worker's last run (which `generate`
      // continues from) is the one on screen.
      jobs.push(mainJob(s, input));
      replaceJobs(set, get, jobs);
    },
  };
}

function viewSlice(set: Set, get: Get, deps: StoreDeps): ViewSlice {
  const v = deps.initialView ?? DEFAULT_VIEW;
  return {
    focus: v.focus,
    mode: v.mode,
    words: v.words,
    query: v.query,
    tab: v.tab,
    theme: v.theme,
    zoom: v.zoom,
    compareModel: v.compareModel,
    setFocus(focus) {
      const cfg = get().modelInfo?.config;
      set({ focus: cfg ? clampFocus(cfg, focus) : focus });
    },
    setMode: (mode) => set({ mode }),
    setWords: (words) => set({ words }),
    setQuery: (query) => set({ query: Math.max(0, query) }),
    stepQuery(delta) {
      const s = get();
      const focus = s.focus;
      const stack = s.run?.trace[focus.stack];
      const rows = stack?.embedding.inputIds.length ?? 0;
      if (rows === 0) return;
      set({ query: Math.min(rows - 1, Math.max(0, s.query + delta)) });
    },
    setTab(tab) {
      set({ tab });
      const run = get().run;
      // The step-through needs q, k and v, which runs only capture when asked.
      if (tab === 'step' && run && !run.captureQKV) get().runNow();
    },
    setTheme: (theme) => set({ theme }),
    setZoom: (zoom) => set({ zoom }),
    setCompareModel: (compareModel) => set({ compareModel }),
    applyView(view) {
      const s = get();
      const inputChanged =
        view.text !== s.text ||
        view.sourceText !== s.sourceText ||
        view.causalMask !== s.causalMask ||
        view.usePositions !== s.usePositions ||
        JSON.stringify(view.ablated) !== JSON.stringify(s.ablated);
      set({
        text: view.text,
        sourceText: view.sourceText,
        causalMask: view.causalMask,
        usePositions: view.usePositions,
        ablated: view.ablated,
        mode: view.mode,
        words: view.words,
        query: view.query,
        theme: view.theme,
        zoom: view.zoom,
        compareModel: view.compareModel,
      });
      s.setFocus(view.focus);
      if (view.tab !== s.tab) s.setTab(view.tab);
      // An empty model in the hash means the default one.
      const model = view.model || s.defaultModel;
      if (model && model !== s.modelName && s.models.some((m) => m.name === model)) {
        s.loadModel(model);
      } else if (inputChanged) {
        get().runNow();
      }
    },
  };
}

function noticeSlice(set: Set, get: Get): NoticeSlice {
  let nextId = 1;
  return {
    notices: [],
    notify(level, text) {
      set({ notices: [...get().notices, { id: nextId++, level, text }].slice(-MAX_NOTICES) });
    },
    dismissNotice(id) {
      set({ notices: get().notices.filter((n) => n.id !== id) });
    },
  };
}

function compareSlice(set: Set, get: Get, deps: StoreDeps): CompareSlice {
  let engine: Engine | null = null;
  let runId: number | null = null;
  const patch = (p: Partial<NonNullable<LabState['compare']>>) => {
    const c = get().compare;
    if (c) set({ compare: { ...c, ...p } });
  };
  const events: EngineEvents = {
    onBackend: () => {},
    onProgress: () => {},
    onLoaded: (info) => {
      patch({ info, loadId: null });
      if (!(info.name in get().training) && info.training !== undefined) {
        set({ training: { ...get().training, [info.name]: parseTrainingCurve(info.training) } });
      }
      get().runCompare();
    },
    onTokens: (id, stack, tokens, truncated) => {
      const run = get().compare?.run;
      if (run && run.id === id) {
        patch({
          run: {
            ...run,
            tokens: { ...run.tokens, [stack]: tokens },
            truncated: { ...run.truncated, [stack]: truncated },
          },
        });
      }
    },
    onChunk: (id, chunk) => {
      const run = get().compare?.run;
      if (run && run.id === id) patch({ run: withChunk(run, chunk) });
    },
    onDone: (id, predictions, timings) => {
      const run = get().compare?.run;
      if (run && run.id === id) patch({ run: { ...run, done: true, predictions, timings } });
    },
    onError: (id, code, message) => {
      const c = get().compare;
      if (!c) return;
      if (id === c.loadId || id === c.run?.id) {
        patch({
          error: message,
          loadId: null,
          ...(c.run ? { run: { ...c.run, error: { code, message } } } : {}),
        });
      }
    },
    onNotice: () => {},
    onCache: () => {},
  };
  return {
    compare: null,
    openCompare(name) {
      const s = get();
      const target =
        name || pickCompareModel(s.models, s.modelName, s.modelInfo?.config.norm ?? 'pre');
      if (!target) {
        set({
          compare: {
            name: '',
            info: null,
            loadId: null,
            run: null,
            error: 'No model to compare with.',
          },
        });
        return;
      }
      if (s.compare?.name === target && s.compare.info) {
        get().runCompare();
        return;
      }
      engine ??= deps.createEngine(events, 'compare');
      const loadId = engine.load({ kind: 'shipped', name: target });
      set({ compare: { name: target, info: null, loadId, run: null, error: null } });
      if (!(target in get().training)) void get().fetchTraining(target);
    },
    runCompare() {
      const s = get();
      const c = s.compare;
      const input = inputOf({ ...s, modelInfo: c?.info ?? null });
      if (!engine || !c?.info || !input) return;
      if (runId !== null && !c.run?.done) engine.cancel();
      const run = { input, interventions: { ...DEFAULT_INTERVENTIONS }, captureQKV: false };
      runId = engine.run(input, run.interventions, { captureQKV: false, topK: TOP_K });
      patch({ run: newRun(runId, run), error: null });
    },
    closeCompare() {
      engine?.dispose();
      engine = null;
      runId = null;
      set({ compare: null });
    },
  };
}

export function createLabStore(deps: StoreDeps): LabStore {
  return createStore<LabState>()((set, get) => {
    const engine = deps.createEngine(mainEvents(set, get, deps), 'main');
    // What the model cache holds, for the "clear cached models" control.
    engine.modelCache?.(false);
    return {
      ...modelSlice(set, get, deps, engine),
      ...inputSlice(set, get, deps),
      ...interventionsSlice(set, get, deps),
      ...traceSlice(set, get, deps),
      ...viewSlice(set, get, deps),
      ...noticeSlice(set, get),
      ...compareSlice(set, get, deps),
    };
  });
}

/** The part of the state the URL hash carries. */
export function viewOf(s: LabState): ViewState {
  return {
    model: s.modelName === s.defaultModel ? '' : s.modelName,
    text: s.text,
    sourceText: s.sourceText,
    causalMask: s.causalMask,
    usePositions: s.usePositions,
    ablated: s.ablated,
    focus: s.focus,
    mode: s.mode,
    words: s.words,
    query: s.query,
    tab: s.tab,
    theme: s.theme,
    zoom: s.zoom,
    compareModel: s.compareModel,
  };
}
