/**
 * The interpretability tools' state (the "interpret" tab): the latest answer of each tool and the
 * controls they read. Every tool reads the model under the sidebar's interventions, as the runs
 * on screen do. The worker keeps only the latest analysis, so the tools are asked one at a
 * time: `refreshInterpret` starts the first one whose answer does not match the input and
 * controls on screen, and each answer starts the next. A run sent after an analysis stops it in
 * the worker (no answer comes): the run's end clears it so that it is asked again.
 */
import type { ClientMessage } from '../../client/client';
import { unsupportedReason } from '../../model/analysis/stream';
import type { AnalysisRequest, AnalysisResult } from '../../workers/protocol';
import type { Get, Set } from './deps';
import { inputKey, inputOf, interventionsOf } from './inputs';
import type { RunMessage } from './runReducer';
import type { InterpretSlice, ToolName, LabState, ToolState } from './types';

/** Top tokens the logit lens lists per point. */
export const LENS_TOP_K = 5;

const TOOLS: ToolName[] = ['lens', 'attribution', 'patching'];

const EMPTY: ToolState = { key: null, result: null, error: null };

/** What each tool would be asked now, and the key its answer must carry to be current. */
function wanted(s: LabState, tool: ToolName): { key: string; request: AnalysisRequest } | null {
  // A position clicked on a longer text than the one on screen falls back to the last.
  const tokens = s.run?.tokens.decoder?.length ?? 0;
  const at = s.lensPosition !== null && s.lensPosition < tokens ? s.lensPosition : undefined;
  const base = JSON.stringify([inputKey(s), interventionsOf(s)]);
  switch (tool) {
    case 'lens':
      return {
        key: JSON.stringify([base, at]),
        request: {
          tool: 'logit-lens',
          topK: LENS_TOP_K,
          ...(at === undefined ? {} : { position: at }),
        },
      };
    case 'attribution': {
      const token = s.attributionToken ?? undefined;
      return {
        key: JSON.stringify([base, at, token]),
        request: {
          tool: 'logit-attribution',
          ...(at === undefined ? {} : { position: at }),
          ...(token === undefined ? {} : { token }),
        },
      };
    }
    case 'patching':
      if (!s.corruptedText.trim()) return null;
      return {
        key: JSON.stringify([base, s.corruptedText]),
        request: { tool: 'activation-patching', corrupted: { text: s.corruptedText } },
      };
  }
}

function toolOf(result: AnalysisResult): ToolName {
  if (result.tool === 'logit-lens') return 'lens';
  return result.tool === 'logit-attribution' ? 'attribution' : 'patching';
}

function setTool(set: Set, get: Get, tool: ToolName, state: ToolState): void {
  set({ interpret: { ...get().interpret, [tool]: state } });
}

export function interpretSlice(set: Set, get: Get): InterpretSlice {
  return {
    interpret: { lens: EMPTY, attribution: EMPTY, patching: EMPTY },
    interpretPending: null,
    interpretAsked: 0,
    lensPosition: null,
    attributionToken: null,
    corruptedText: '',
    setLensPosition(position) {
      set({ lensPosition: position, attributionToken: null });
      get().refreshInterpret();
    },
    setAttributionToken(token) {
      set({ attributionToken: token });
      get().refreshInterpret();
    },
    setCorruptedText(text) {
      set({ corruptedText: text });
      get().refreshInterpret();
    },
    refreshInterpret() {
      const s = get();
      const input = inputOf(s);
      const cfg = s.modelInfo?.config;
      if (s.tab !== 'interpret' || !cfg || !input) return;
      const pending = s.interpretPending;
      if (pending && wanted(s, pending.tool)?.key === pending.key) return;
      for (const tool of TOOLS) {
        const want = wanted(s, tool);
        const state = s.interpret[tool];
        // A tool that cannot read this model says why on the tab; nothing to ask.
        if (!want || state.key === want.key || unsupportedReason(cfg, want.request.tool)) continue;
        const id = s.engine.analyse(input, want.request, interventionsOf(s));
        set({ interpretPending: { tool, id, key: want.key }, interpretAsked: id });
        return;
      }
      set({ interpretPending: null });
    },
  };
}

/** An analysis answer (or error) of the pending request: into its tool, then the next tool. */
export function receiveAnalysis(set: Set, get: Get, m: ClientMessage): boolean {
  const { interpretPending: pending, interpretAsked } = get();
  if (!('id' in m) || (m.type !== 'analysis' && m.type !== 'error')) return false;
  // The answer to an analysis no longer wanted (the controls changed back): nothing to show.
  if (m.id !== 0 && m.id === interpretAsked && pending?.id !== m.id) return true;
  if (!pending || m.id !== pending.id) return false;
  if (m.type === 'analysis') {
    setTool(set, get, toolOf(m.result), { key: pending.key, result: m.result, error: null });
  } else {
    setTool(set, get, pending.tool, { key: pending.key, result: null, error: m.message });
  }
  set({ interpretPending: null });
  get().refreshInterpret();
  return true;
}

/** A run's end: an analysis sent before the run was stopped by it; the tools catch up now. */
export function afterRun(set: Set, get: Get, m: RunMessage): void {
  if (m.type !== 'done' && m.type !== 'error') return;
  const pending = get().interpretPending;
  if (pending && pending.id < m.id) set({ interpretPending: null });
  if (get().inFlight === null) get().refreshInterpret();
}
