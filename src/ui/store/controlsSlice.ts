/** The input and the interventions: every change runs the model again (typing debounced). */
import { DEFAULT_VIEW, sameAblation } from '../lib/urlState';
import type { Get, Set, StoreDeps } from './deps';
import type { InputSlice, InterventionsSlice } from './types';

export function inputSlice(set: Set, get: Get, deps: StoreDeps): InputSlice {
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

export function interventionsSlice(set: Set, get: Get, deps: StoreDeps): InterventionsSlice {
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
