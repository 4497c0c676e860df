/**
 * The trace slice: the run on screen, the baseline predictions the top-k list compares with, and
 * the cost panel's timings. One job at a time (types.ts `Job`): starting one supersedes the one
 * in flight (the worker stops it, the client drops its messages), so no cancel is needed.
 */
import type { LayerRef, RunInput } from '../../workers/protocol';
import { lengthsUpTo } from '../lib/cost';
import { generateBlocked } from '../lib/generation';
import type { Get, Set, StoreDeps } from './deps';
import { fetchDetail } from './detail';
import {
  DEFAULT_INTERVENTIONS,
  inputKey,
  inputOf,
  interventionsOf,
  isDefaultInterventions,
  isEncoderDecoder,
  TOP_K,
  wantsQKV,
} from './inputs';
import { newRun, reduceRun, type RunMessage } from './runReducer';
import type { BenchStep, Job, LabState, RunSpec, TraceSlice } from './types';

/** Lengths the cost panel times the forward pass at: powers of two from 8. */
const BENCH_MIN = 8;

type MainSpec = RunSpec & { key: string };

function mainSpec(s: LabState, input: RunInput): MainSpec {
  return {
    input,
    interventions: interventionsOf(s),
    captureQKV: wantsQKV(s),
    key: inputKey(s),
  };
}

/** The layer a long input's run sends in full: the focused one (detail.ts). */
function detailOf(s: LabState): LayerRef {
  return { stack: s.focus.stack, layer: s.focus.layer };
}

function startMain(set: Set, get: Get, { key, ...spec }: MainSpec): void {
  const id = get().engine.run(spec.input, spec.interventions, {
    captureQKV: spec.captureQKV,
    topK: TOP_K,
    detail: detailOf(get()),
  });
  set({ run: newRun(id, spec), inFlight: { purpose: 'main', id, key } });
}

/** Untraced runs: the baseline and the bench (unmodified model, predictions only). */
function startBare(get: Get, input: RunInput, topK: number): number {
  return get().engine.run(input, DEFAULT_INTERVENTIONS, { captureQKV: false, topK, trace: false });
}

function startBench(set: Set, get: Get, [step, ...rest]: BenchStep[], then: MainSpec): void {
  if (!step) return startMain(set, get, then);
  const id = startBare(get, step.input, 1);
  set({ inFlight: { purpose: 'bench', id, n: step.n, warmUp: step.warmUp, rest, then } });
}

/** What a finished job leads to: the next step of its plan, or nothing. */
function finish(set: Set, get: Get, job: Job, m: Extract<RunMessage, { type: 'done' | 'error' }>) {
  const s = get();
  if (m.type === 'error' && m.code !== 'empty-input') s.notify('error', m.message);
  switch (job.purpose) {
    case 'main':
    case 'generate': {
      const run = s.run;
      set({ inFlight: null });
      // A failed step (a full context, a lost worker) leaves the sequence as it was: the run it
      // extended stays on screen, and the notice says what went wrong.
      if (m.type === 'error' && job.purpose === 'generate') set({ run: job.previous });
      if (m.type !== 'done' || !run) return;
      if (job.purpose === 'generate') {
        // The text box shows the prompt and the decoded text of every generated token (never
        // their display pieces: `↵` or `<0xE2>` typed back would be other tokens).
        const tokens = run.tokens.decoder ?? run.tokens.encoder ?? [];
        if (m.continuation) set({ text: (run.input.text ?? '') + m.continuation.text });
        set({ query: Math.max(0, tokens.length - 1) });
      }
      // A run of the unmodified model is the baseline of its input: an intervention next needs
      // only its own traced run.
      if (isDefaultInterventions(run.interventions)) {
        const key = job.purpose === 'main' ? job.key : inputKey(get());
        set({ baseline: { key, predictions: m.predictions } });
      }
      return;
    }
    case 'baseline':
      if (m.type === 'done') set({ baseline: { key: job.key, predictions: m.predictions } });
      return startMain(set, get, job.then);
    case 'bench':
      if (m.type === 'done' && !job.warmUp) {
        const measurement = {
          n: job.n,
          forwardMs: m.timings.forwardMs,
          backend: s.backend?.backend ?? '?',
        };
        set({
          measurements: [...s.measurements.filter((x) => x.n !== job.n), measurement].sort(
            (a, b) => a.n - b.n,
          ),
        });
      }
      return startBench(set, get, job.rest, job.then);
  }
}

/** A message of the main engine's latest run: into the run on screen, then the job's effects. */
export function receiveRun(set: Set, get: Get, m: RunMessage): void {
  const s = get();
  if (s.run) set({ run: reduceRun(s.run, m) });
  if (m.type === 'chunk') fetchDetail(set, get);
  const job = s.inFlight;
  if (m.type === 'error' && job?.id !== m.id && s.run?.id !== m.id) {
    // Not tied to a request of ours (a stopped engine, the model cache): still worth telling.
    s.notify('error', m.message);
    return;
  }
  if (job?.id === m.id && (m.type === 'done' || m.type === 'error')) finish(set, get, job, m);
}

export function traceSlice(set: Set, get: Get, deps: StoreDeps): TraceSlice {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    run: null,
    baseline: null,
    measurements: [],
    inFlight: null,
    requestRun() {
      clearTimeout(timer);
      timer = setTimeout(() => get().runNow(), deps.debounceMs ?? 200);
    },
    runNow() {
      clearTimeout(timer);
      const s = get();
      if (!s.modelInfo) return;
      const input = inputOf(s);
      if (!input) {
        // Empty input: nothing to run; the input panel shows a hint instead.
        if (s.inFlight) s.engine.cancel();
        set({ run: null, inFlight: null });
        return;
      }
      const spec = mainSpec(s, input);
      if (isDefaultInterventions(spec.interventions) || s.baseline?.key === spec.key) {
        return startMain(set, get, spec);
      }
      // The top-k list compares with the unmodified model: run it first, untraced. While it runs
      // the old trace no longer matches the controls, so none is shown.
      const id = startBare(get, input, TOP_K);
      set({ run: null, inFlight: { purpose: 'baseline', id, key: spec.key, then: spec } });
    },
    generateNext(sampling) {
      const s = get();
      if (!s.run?.done || s.run.error || s.inFlight || !s.modelInfo) return;
      const tokens = s.run.tokens.decoder?.length ?? 0;
      if (generateBlocked(tokens, s.modelInfo.config.contextLength, s.run.continuation)) return;
      const spec = {
        input: s.run.input,
        interventions: interventionsOf(s),
        captureQKV: wantsQKV(s),
      };
      const id = s.engine.generate(
        spec.interventions,
        { captureQKV: spec.captureQKV, topK: TOP_K, detail: detailOf(s) },
        sampling,
      );
      // The step's chunks hold only the new rows: they grow the trace on screen.
      set({ run: newRun(id, spec, s.run), inFlight: { purpose: 'generate', id, previous: s.run } });
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
      const steps: BenchStep[] = [];
      for (const n of lengthsUpTo(cfg.contextLength).filter((n) => n >= BENCH_MIN)) {
        const benchInput: RunInput = isEncoderDecoder(s.modelInfo)
          ? { sourceIds: ids(n), ids: decoderIds }
          : { ids: ids(n) };
        // The first run at a length compiles its shaders; only the second is timed.
        for (const warmUp of [true, false]) steps.push({ n, warmUp, input: benchInput });
      }
      // Finish with the user's own input again, so the worker's last run (which `generate`
      // continues from) is the one on screen.
      startBench(set, get, steps, mainSpec(s, input));
    },
  };
}
