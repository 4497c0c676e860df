/** The store's state, one interface per slice; `LabState` is all of them together. */
import type { RnnVsAttentionRow } from '../../model/rnnVsAttention';
import type { Stack, Trace } from '../../model/trace';
import type {
  AnalysisResult,
  BackendInfo,
  CacheUsage,
  Continuation,
  Interventions,
  ModelInfo,
  Prediction,
  RunInput,
  ShippedModelEntry,
  Sampling,
  Timings,
  TokenInfo,
  TokenizerAnswer,
} from '../../workers/protocol';
import type { ViewTransform } from '../lib/layout';
import type { TrainingCurve } from '../lib/norms';
import type { AblatedHead, HeadFocus, Tab, Theme, ValueMode, ViewState } from '../lib/urlState';
import type { Engine } from './engine';

/** What a traced run is asked for, and what its state records. */
export interface RunSpec {
  input: RunInput;
  interventions: Interventions & { ablatedHeads: AblatedHead[] };
  captureQKV: boolean;
}

/** One forward pass as the panels see it, its trace grown chunk by chunk (runReducer.ts). */
export interface RunState extends RunSpec {
  id: number;
  trace: Trace;
  tokens: Partial<Record<Stack, TokenInfo[]>>;
  truncated: Partial<Record<Stack, boolean>>;
  done: boolean;
  /** Position of the first query row this run computed: > 0 for a cached generation step. */
  computedFrom: number;
  predictions: Prediction[];
  /** Where `predictions` are a masked LM's fill-in: the first [MASK]; absent for the next token. */
  maskPosition?: number;
  timings: Timings | null;
  error: { code: string; message: string } | null;
  /** What `generate` would continue; null for a run it cannot continue (or not done). */
  continuation: Continuation | null;
  /** The summarised layer (`stack.layer`) whose exact attention was last asked for (detail.ts). */
  detailAsked?: string;
}

export interface Notice {
  id: number;
  level: 'info' | 'error';
  text: string;
  /** `restart`: the engine is stopped or stuck; the notice offers to restart it. */
  action?: 'restart';
}

/** Bytes of one stage of a load so far, and when (performance.now()) it started and last moved. */
export interface LoadStage {
  loaded: number;
  total: number;
  startedAt: number;
  at: number;
}

export interface ModelSlice {
  engine: Engine;
  models: ShippedModelEntry[];
  defaultModel: string;
  /** The model asked for ('' until the index names the default). */
  modelName: string;
  /**
   * The shipped model the URL names: the last one asked for, kept when its load fails (the link
   * then still asks for it) and given up only when another loads or the load is cancelled.
   */
  requestedModel: string;
  modelInfo: ModelInfo | null;
  /** The load in progress; the model on screen stays usable meanwhile. */
  loadId: number | null;
  progress: Record<string, LoadStage>;
  backend: BackendInfo | null;
  /** What the worker keeps in Cache Storage (Hub and URL models); null until it says. */
  cacheUsage: CacheUsage | null;
  /** Loss curves by model name; null when the model has none. */
  training: Record<string, TrainingCurve | null>;
  fetchModelIndex(): Promise<void>;
  loadModel(name: string): void;
  loadFiles(files: File[]): void;
  /** Load from what the user typed: a Hugging Face model id or a URL. */
  loadFrom(text: string): void;
  /** Stop the load in progress; the model on screen stays. */
  cancelLoad(): void;
  /** A fresh worker with the model on screen and the latest run again (the user's way out). */
  restartEngine(): void;
  clearModelCache(): void;
  fetchTraining(name: string): Promise<void>;
  /** Put the shown model's example input, head and query on screen (index.json `example`). */
  applyExample(): void;
}

export interface InputSlice {
  text: string;
  sourceText: string;
  setText(text: string): void;
  setSourceText(text: string): void;
}

export interface InterventionsSlice {
  causalMask: boolean;
  usePositions: boolean;
  ablated: AblatedHead[];
  setCausalMask(on: boolean): void;
  setUsePositions(on: boolean): void;
  toggleAblation(head: AblatedHead): void;
  clearAblations(): void;
}

/**
 * The request of the main engine in flight, and what its answer is for. The worker runs only the
 * latest request, so the store has one job at a time: a baseline's or a bench step's `done`
 * starts what comes after it.
 */
export type Job =
  /** The traced run on screen; `key`: its input, for reusing its predictions as a baseline. */
  | { purpose: 'main'; id: number; key: string }
  /** A generation step; `previous`: the run it extends, shown again if the step fails. */
  | { purpose: 'generate'; id: number; previous: RunState }
  /** Predictions of the unmodified model on input `key`; then the traced run `then`. */
  | { purpose: 'baseline'; id: number; key: string; then: RunSpec & { key: string } }
  /** Timing the forward at length `n` (a warm-up is not recorded); then the rest, then `then`. */
  | {
      purpose: 'bench';
      id: number;
      n: number;
      warmUp: boolean;
      rest: BenchStep[];
      then: RunSpec & { key: string };
    };

export interface BenchStep {
  n: number;
  warmUp: boolean;
  input: RunInput;
}

export interface Measurement {
  n: number;
  forwardMs: number;
  backend: string;
}

export interface TraceSlice {
  run: RunState | null;
  /** Predictions of the unmodified model on the same input, for the top-k comparison. */
  baseline: { key: string; predictions: Prediction[] } | null;
  measurements: Measurement[];
  inFlight: Job | null;
  /** Run the current input soon (debounced: typing should not queue a run per key). */
  requestRun(): void;
  runNow(): void;
  /** Append a token (greedy unless `sampling` says otherwise) and run only its row. */
  generateNext(sampling?: Sampling): void;
  measureCost(): void;
}

/** The view's state is exactly what the URL hash carries (urlState's ViewState), plus setters. */
export interface ViewSlice extends Pick<
  ViewState,
  'focus' | 'mode' | 'words' | 'query' | 'tab' | 'theme' | 'zoom' | 'compareModel'
> {
  setFocus(focus: HeadFocus): void;
  setMode(mode: ValueMode): void;
  setWords(on: boolean): void;
  setQuery(query: number): void;
  stepQuery(delta: number): void;
  setTab(tab: Tab): void;
  setTheme(theme: Theme): void;
  setZoom(zoom: ViewTransform): void;
  setCompareModel(name: string): void;
  /** Apply a parsed URL hash: every slice's part of it. */
  applyView(view: ViewState): void;
}

export interface NoticeSlice {
  notices: Notice[];
  notify(level: Notice['level'], text: string, action?: Notice['action']): void;
  dismissNotice(id: number): void;
}

export interface CompareState {
  name: string;
  info: ModelInfo | null;
  loadId: number | null;
  run: RunState | null;
  error: string | null;
}

export interface CompareSlice {
  compare: CompareState | null;
  /** Load `name` into the second engine (created on first use) and run the current input on it. */
  openCompare(name: string): void;
  runCompare(): void;
  closeCompare(): void;
}

/** One RNN-vs-attention measurement, its rows growing as lengths finish. */
export interface RnnMeasurement {
  id: number;
  maxN: number;
  /** The backend it ran on. */
  backend: string;
  rows: RnnVsAttentionRow[];
  done: boolean;
  /** Why it ended before `maxN` (the time bound, a newer run, an error); null if it reached it. */
  stop: string | null;
}

export interface RnnSlice {
  rnn: RnnMeasurement | null;
  /** Time one RNN layer against one attention layer of the model's width, n = 8 … maxN. */
  measureRnn(maxN: number): void;
}

export interface TokenizerSlice {
  /** The tokenizer explorer's latest answer, null until it asks. */
  tokenizerAnswer: TokenizerAnswer | null;
  /** Seed of the next "repeat random tokens" input; each use moves it on. */
  repeatSeed: number;
  explainToken(id: number): void;
  explainText(text: string): void;
  /** Fill the input with random tokens repeated twice (seeded) and run it. */
  repeatRandomTokens(): void;
}

export type ToolName = 'lens' | 'attribution' | 'patching';

/** One tool's latest answer and what it was for (`key`: the input and the tool's controls). */
export interface ToolState {
  key: string | null;
  result: AnalysisResult | null;
  error: string | null;
}

export interface InterpretSlice {
  interpret: Record<ToolName, ToolState>;
  /** The analysis the worker is computing, if any (one at a time). */
  interpretPending: { tool: ToolName; id: number; key: string } | null;
  /** The id of the latest analysis asked for, pending or not (its late answer is dropped). */
  interpretAsked: number;
  /** The position the lens and the attribution read; null: the last. */
  lensPosition: number | null;
  /** The token attributed; null: the model's prediction. */
  attributionToken: number | null;
  /** Activation patching's corrupted prompt; empty: no patching. */
  corruptedText: string;
  setLensPosition(position: number | null): void;
  setAttributionToken(token: number | null): void;
  setCorruptedText(text: string): void;
  /** Ask for the first tool whose answer is stale (only while the interpret tab is open). */
  refreshInterpret(): void;
}

export type LabState = ModelSlice &
  TokenizerSlice &
  RnnSlice &
  InputSlice &
  InterventionsSlice &
  TraceSlice &
  ViewSlice &
  NoticeSlice &
  CompareSlice &
  InterpretSlice;
