/** The view: what the URL hash carries besides the input (focus, mode, tab, theme, zoom…). */
import { DEFAULT_VIEW } from '../lib/urlState';
import type { Get, Set, StoreDeps } from './deps';
import { fetchDetail, fetchQKV } from './detail';
import { clampFocus } from './shape';
import type { ViewSlice } from './types';

export function viewSlice(set: Set, get: Get, deps: StoreDeps): ViewSlice {
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
      fetchDetail(set, get);
    },
    setMode(mode) {
      set({ mode });
      // Attention × ‖value‖ needs the value norms, which come with q, k and v.
      if (mode === 'weighted') fetchQKV(set, get);
    },
    setWords: (words) => set({ words }),
    setQuery: (query) => set({ query: Math.max(0, query) }),
    stepQuery(delta) {
      const s = get();
      const stack = s.run?.trace[s.focus.stack];
      const rows = stack?.embedding.inputIds.length ?? 0;
      if (rows === 0) return;
      set({ query: Math.min(rows - 1, Math.max(0, s.query + delta)) });
    },
    setTab(tab) {
      set({ tab });
      // The step-through and the KV cache need q, k and v, which runs only capture when asked.
      fetchQKV(set, get);
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
