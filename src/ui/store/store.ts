/**
 * The one store: its slices (each in its own file) put together, and the main engine's messages
 * routed to them. It owns the engines (the worker clients).
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { EngineListener } from '../../client/client';
import type { ViewState } from '../lib/urlState';
import { compareSlice } from './compareSlice';
import { inputSlice, interventionsSlice } from './controlsSlice';
import { afterRun, interpretSlice, receiveAnalysis } from './interpretSlice';
import type { StoreDeps } from './deps';
import { modelSlice } from './modelSlice';
import { noticeSlice } from './noticeSlice';
import { isRunMessage } from './runReducer';
import { receiveRnn, rnnSlice } from './rnnSlice';
import { tokenizerSlice } from './tokenizerSlice';
import { receiveRun, traceSlice } from './traceSlice';
import type { LabState } from './types';
import { viewSlice } from './viewSlice';

export type { StoreDeps } from './deps';
export type LabStore = StoreApi<LabState>;

export function createLabStore(deps: StoreDeps): LabStore {
  return createStore<LabState>()((set, get) => {
    let receiveLoad: ReturnType<typeof modelSlice>['receive'] = () => {};
    const tokenizer = tokenizerSlice(set, get);
    const listener: EngineListener = (m) => {
      const s = get();
      if (m.type === 'backend') set({ backend: m.info });
      else if (m.type === 'cache') set({ cacheUsage: m.usage });
      else if (m.type === 'notice')
        s.notify(m.level, m.message, m.offerRestart ? 'restart' : undefined);
      // A `loaded` may be of a load made on the client directly (the bench, through
      // `window.__attentionLab`): the model on screen is whatever the client loaded last.
      else if (m.type === 'loaded') receiveLoad(m);
      else if ((m.type === 'progress' || m.type === 'error') && m.id === s.loadId) receiveLoad(m);
      else if (m.type === 'rnn-row' || m.type === 'rnn-done') receiveRnn(set, get, m);
      else if (m.type === 'error' && m.id === s.rnn?.id) receiveRnn(set, get, m);
      else if (m.type === 'tokenizer') tokenizer.receive(m);
      else if (receiveAnalysis(set, get, m)) return;
      else if (isRunMessage(m)) {
        receiveRun(set, get, m);
        afterRun(set, get, m);
      }
    };
    const engine = deps.createEngine(listener, 'main');
    const model = modelSlice(set, get, deps, engine);
    receiveLoad = model.receive;
    // What the model cache holds, for the "clear cached models" control.
    engine.modelCache(false);
    return {
      ...model.slice,
      ...inputSlice(set, get, deps),
      ...interventionsSlice(set, get, deps),
      ...traceSlice(set, get, deps),
      ...viewSlice(set, get, deps),
      ...noticeSlice(set, get),
      ...compareSlice(set, get, deps),
      ...rnnSlice(set, get),
      ...tokenizer.slice,
      ...interpretSlice(set, get),
    };
  });
}

/** The part of the state the URL hash carries. */
export function viewOf(s: LabState): ViewState {
  return {
    model: s.requestedModel === s.defaultModel ? '' : s.requestedModel,
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
