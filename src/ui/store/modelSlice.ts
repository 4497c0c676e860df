/**
 * The model slice: the shipped models, loading (with progress, a cancel and a restart), and what
 * the engine says about itself (backend, model cache). A load never costs the model on screen:
 * runs go on with it until the new one is loaded, and a failed or cancelled load leaves it.
 */
import type { ClientMessage } from '../../client/client';
import { sourceFromText } from '../../client/modelSource';
import type { ModelSource } from '../../workers/protocol';
import { exampleView, showsExample } from '../lib/examples';
import { parseTrainingCurve } from '../lib/norms';
import { ablationsIn } from '../lib/urlState';
import type { Get, Set, StoreDeps } from './deps';
import type { Engine } from './engine';
import { attentionBlocks, clampFocus } from './shape';
import type { LabState, ModelSlice } from './types';

export type LoadMessage = Extract<ClientMessage, { type: 'progress' | 'loaded' | 'error' }>;

export function modelSlice(
  set: Set,
  get: Get,
  deps: StoreDeps,
  engine: Engine,
): { slice: ModelSlice; receive: (m: LoadMessage) => void } {
  /** The picker's name of the model on screen, which a failed or cancelled load goes back to. */
  let shownName = deps.initialView?.model ?? '';
  const load = (name: string, source: ModelSource) => {
    const loadId = get().engine.load(source);
    set({ modelName: name, requestedModel: name, loadId, progress: {} });
  };
  /** The load is over; `failed`: the URL keeps asking for the model (the picker does not). */
  const endLoad = (failed: boolean) =>
    set({
      modelName: shownName,
      loadId: null,
      progress: {},
      ...(failed ? {} : { requestedModel: shownName }),
    });
  const exampleOf = (name: string) => get().models.find((m) => m.name === name)?.example;

  /**
   * The new model's example replaces an input the user has not made their own: the first screen
   * when the URL named no input, or the example (or sample) of the model shown before.
   */
  const takesExample = (s: LabState) =>
    s.modelInfo
      ? showsExample(exampleOf(shownName), s) || s.text === deps.sampleText
      : deps.exampleOnLoad === true;

  const receive = (m: LoadMessage) => {
    const s = get();
    if (m.type === 'progress') {
      const at = performance.now();
      const startedAt = s.progress[m.stage]?.startedAt ?? at;
      set({
        progress: { ...s.progress, [m.stage]: { loaded: m.loaded, total: m.total, startedAt, at } },
      });
    } else if (m.type === 'error') {
      endLoad(true);
      s.notify('error', `Could not load the model: ${m.message}`);
    } else {
      // Not the store's own load: a model with no name in the picker or the URL.
      if (m.id !== s.loadId) set({ modelName: '' });
      const example = takesExample(s) ? exampleOf(get().modelName) : undefined;
      shownName = get().modelName;
      set({ requestedModel: shownName });
      if (example) {
        const { focus, ...input } = exampleView(example);
        set({ ...input, focus: focus ?? s.focus });
      } else if (m.info.config.architecture === 'encoder-decoder' && s.text === deps.sampleText) {
        set({ text: '' });
      }
      set({
        modelInfo: m.info,
        loadId: null,
        focus: clampFocus(m.info.config, get().focus),
        ablated: ablationsIn(s.ablated, attentionBlocks(m.info.config), m.info.config.nHeads),
        run: null,
        inFlight: null,
        baseline: null,
        measurements: [],
        // The first model keeps the query the URL (or its example) asked for; switching models
        // starts over, or at the example's.
        query: example ? example.query : s.modelInfo ? 0 : s.query,
      });
      for (const notice of m.info.notices ?? []) s.notify('info', notice);
      if (m.info.training !== undefined) {
        set({
          training: { ...get().training, [m.info.name]: parseTrainingCurve(m.info.training) },
        });
      }
      get().runNow();
    }
  };

  const slice: ModelSlice = {
    engine,
    models: [],
    defaultModel: '',
    modelName: deps.initialView?.model ?? '',
    requestedModel: deps.initialView?.model ?? '',
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
      load(name, { kind: 'shipped', name });
      if (!(name in get().training)) void get().fetchTraining(name);
    },
    loadFiles(files) {
      // A model that is not one of the shipped ones: no name in the picker or the URL.
      load('', { kind: 'files', files });
    },
    loadFrom(text) {
      const source = sourceFromText(text);
      if (source) load('', source);
      else {
        get().notify(
          'error',
          `"${text.trim()}" is neither a Hugging Face model id (like gpt2 or Helsinki-NLP/opus-mt-en-it) nor an http(s) URL`,
        );
      }
    },
    cancelLoad() {
      if (get().loadId === null) return;
      get().engine.cancelLoad();
      endLoad(false);
      get().notify('info', 'Loading cancelled.');
    },
    restartEngine() {
      get().engine.restart();
    },
    clearModelCache() {
      get().engine.modelCache(true);
    },
    applyExample() {
      const s = get();
      const example = exampleOf(s.modelName);
      const cfg = s.modelInfo?.config;
      if (!example || !cfg) return;
      const { focus, ...input } = exampleView(example);
      set({ ...input, focus: clampFocus(cfg, focus ?? s.focus) });
      get().runNow();
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
  return { slice, receive };
}
