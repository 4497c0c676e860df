/**
 * The norm comparison: a second engine with the other norm placement's model, running the same
 * input unmodified. Its run goes through the same reducer as the main one.
 */
import type { EngineListener } from '../../client/client';
import { parseTrainingCurve } from '../lib/norms';
import type { Get, Set, StoreDeps } from './deps';
import type { Engine } from './engine';
import { DEFAULT_INTERVENTIONS, inputOf, TOP_K } from './inputs';
import { isRunMessage, newRun, reduceRun } from './runReducer';
import { pickCompareModel } from './shape';
import type { CompareSlice, CompareState } from './types';

export function compareSlice(set: Set, get: Get, deps: StoreDeps): CompareSlice {
  let engine: Engine | null = null;
  const patch = (p: Partial<CompareState>) => {
    const c = get().compare;
    if (c) set({ compare: { ...c, ...p } });
  };
  const listener: EngineListener = (m) => {
    const c = get().compare;
    if (!c) return;
    if (m.type === 'loaded') {
      patch({ info: m.info, loadId: null });
      if (!(m.info.name in get().training) && m.info.training !== undefined) {
        set({
          training: { ...get().training, [m.info.name]: parseTrainingCurve(m.info.training) },
        });
      }
      get().runCompare();
    } else if (m.type === 'error' && m.id === c.loadId) {
      patch({ error: m.message, loadId: null });
    } else if (isRunMessage(m) && c.run) {
      const run = reduceRun(c.run, m);
      patch({ run, ...(m.type === 'error' && m.id === c.run.id ? { error: m.message } : {}) });
    }
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
      engine ??= deps.createEngine(listener, 'compare');
      const loadId = engine.load({ kind: 'shipped', name: target });
      set({ compare: { name: target, info: null, loadId, run: null, error: null } });
      if (!(target in get().training)) void get().fetchTraining(target);
    },
    runCompare() {
      const s = get();
      const c = s.compare;
      const input = inputOf({ ...s, modelInfo: c?.info ?? null });
      if (!engine || !c?.info || !input) return;
      const spec = { input, interventions: { ...DEFAULT_INTERVENTIONS }, captureQKV: false };
      const id = engine.run(input, spec.interventions, { captureQKV: false, topK: TOP_K });
      patch({ run: newRun(id, spec), error: null });
    },
    closeCompare() {
      engine?.dispose();
      engine = null;
      set({ compare: null });
    },
  };
}
