/**
 * What the store needs from the engine (the worker client in `src/workers/client.ts`). Typed here
 * as an interface so the store runs against a fake in unit tests.
 */
import type { Stack, TraceChunk } from '../../model/trace';
import type {
  BackendInfo,
  CacheUsage,
  Interventions,
  ModelInfo,
  ModelSource,
  Prediction,
  RunInput,
  Timings,
  TokenInfo,
} from '../../workers/protocol';

export interface LoadProgress {
  id: number;
  stage: string;
  loaded: number;
  total: number;
}

export interface EngineEvents {
  onBackend(info: BackendInfo): void;
  onProgress(p: LoadProgress): void;
  onLoaded(info: ModelInfo): void;
  onTokens(id: number, stack: Stack, tokens: TokenInfo[], truncated: boolean): void;
  onChunk(id: number, chunk: TraceChunk): void;
  onDone(id: number, predictions: Prediction[], timings: Timings): void;
  onError(id: number, code: string, message: string): void;
  onNotice(message: string): void;
  onCache(usage: CacheUsage): void;
}

export interface RunOptions {
  captureQKV: boolean;
  topK: number;
  /** `false`: predictions only, no chunks; only for the unmodified model (baselines, timing). */
  trace?: boolean;
}

export interface Engine {
  load(source: ModelSource): number;
  run(input: RunInput, interventions: Interventions, opts: RunOptions): number;
  generate(interventions: Interventions, opts: RunOptions): number;
  cancel(): void;
  dispose(): void;
  /** Ask what the model cache holds (answered by `onCache`), emptying it first when `clear`. */
  modelCache?(clear: boolean): void;
}

/** `main` runs what the panels show; `compare` is the second model of the norm comparison. */
export type EngineRole = 'main' | 'compare';

export type EngineFactory = (events: EngineEvents, role: EngineRole) => Engine;
