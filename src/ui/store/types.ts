/** The store's state, one interface per slice; `LabState` is all of them together. */
import type { Stack, Trace, TraceChunk } from '../../model/trace';
import type {
  BackendInfo,
  CacheUsage,
  Interventions,
  ModelInfo,
  Prediction,
  RunInput,
  Timings,
  TokenInfo,
} from '../../workers/protocol';
import type { ViewTransform } from '../lib/layout';
import type { TrainingCurve } from '../lib/norms';
import type { AblatedHead, HeadFocus, Tab, Theme, ValueMode, ViewState } from '../lib/urlState';
import type { Engine } from './engine';

export interface ShippedModel {
  name: string;
  title: string;
  description: string;
}

/** One forward pass as the panels see it, assembled from the chunks streamed for its request. */
export interface RunState {
  id: number;
  input: RunInput;
  interventions: Interventions & { ablatedHeads: AblatedHead[] };
  captureQKV: boolean;
  chunks: TraceChunk[];
  trace: Trace;
  tokens: Partial<Record<Stack, TokenInfo[]>>;
  truncated: Partial<Record<Stack, boolean>>;
  done: boolean;
  predictions: Prediction[];
  timings: Timings | null;
  error: { code: string; message: string } | null;
}

export interface Notice {
  id: number;
  level: 'info' | 'error';
  text: string;
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
  models: ShippedModel[];
  defaultModel: string;
  /** The model asked for ('' until the index names the default). */
  modelName: string;
  modelInfo: ModelInfo | null;
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
  clearModelCache(): void;
  fetchTraining(name: string): Promise<void>;
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

export type JobPurpose = 'main' | 'generate' | 'baseline' | 'bench';

export interface Job {
  purpose: JobPurpose;
  start(engine: Engine): number;
  /** Main and generate jobs: what the run state records. */
  run?: Pick<RunState, 'input' | 'interventions' | 'captureQKV'>;
  /** Baseline jobs: the input key the predictions belong to. */
  key?: string;
  /** Bench jobs: sequence length, and whether this is the warm-up (not recorded). */
  n?: number;
  warmUp?: boolean;
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
  inFlight: { id: number; job: Job } | null;
  pending: Job[];
  /** Run the current input soon (debounced: typing should not queue a run per key). */
  requestRun(): void;
  runNow(): void;
  generateNext(): void;
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
  notify(level: Notice['level'], text: string): void;
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

export type LabState = ModelSlice &
  InputSlice &
  InterventionsSlice &
  TraceSlice &
  ViewSlice &
  NoticeSlice &
  CompareSlice;
