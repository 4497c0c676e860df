/**
 * Every message that crosses the worker boundary. Nothing else crosses: matrices travel as
 * transferable Float32Arrays inside trace chunks, never as JSON arrays.
 */
import type { ModelConfig } from '../model/config';
import type { Stack, TraceChunk } from '../model/trace';

export type BackendName = 'webgl' | 'wasm' | 'cpu';

export interface BackendInfo {
  backend: BackendName;
  /** Why each better backend was not used, e.g. `webgl: no WebGL2 context in this worker`. */
  fallbacks: string[];
  /** The GPU renderer string when WebGL runs (`ANGLE (Google, SwiftShader …)`). */
  renderer?: string;
}

export type ModelSource =
  | { kind: 'shipped'; name: string }
  | { kind: 'url'; url: string }
  | { kind: 'files'; files: File[] };

export type TokenizerKind = 'bpe' | 'gpt2' | 'marian' | 'chars' | 'ids';

export interface ModelInfo {
  name: string;
  config: ModelConfig;
  tokenizer: TokenizerKind;
  parameterCount: number;
  /** Bytes the weights take in memory (float32). */
  weightBytes: number;
  /** Contents of `training.json` for models the project trained. */
  training?: unknown;
}

/** A head addressed in the model. */
export interface HeadRef {
  stack: Stack;
  layer: number;
  head: number;
}

export interface Interventions {
  causalMask: boolean;
  usePositions: boolean;
  ablatedHeads: HeadRef[];
}

export interface TokenInfo {
  id: number;
  /** Readable text of the piece (byte-level markers such as Ġ turned into spaces). */
  piece: string;
}

export interface RunInput {
  /** Text for the (decoder or only) stack; tokenized in the worker. */
  text?: string;
  /** Or token ids directly. */
  ids?: number[];
  /** Source text/ids of an encoder–decoder model. */
  sourceText?: string;
  sourceIds?: number[];
}

export type Request =
  | { type: 'load'; id: number; source: ModelSource }
  | {
      type: 'run';
      id: number;
      input: RunInput;
      interventions: Interventions;
      captureQKV: boolean;
      topK: number;
    }
  /** Append the most likely next token to the last run's input and run again (cached keys/values). */
  | { type: 'generate'; id: number; interventions: Interventions; topK: number; captureQKV: boolean }
  | { type: 'cancel'; id: number };

export interface Prediction {
  id: number;
  piece: string;
  prob: number;
}

export interface Timings {
  forwardMs: number;
  readbackMs: number;
  transferMs: number;
  totalMs: number;
}

export type Response =
  | { type: 'backend'; info: BackendInfo }
  | { type: 'progress'; id: number; stage: string; loaded: number; total: number }
  | { type: 'loaded'; id: number; info: ModelInfo }
  | { type: 'tokens'; id: number; stack: Stack; tokens: TokenInfo[]; truncated: boolean }
  | { type: 'chunk'; id: number; chunk: TraceChunk; sentAt: number }
  | { type: 'done'; id: number; predictions: Prediction[]; timings: Timings }
  | { type: 'error'; id: number; code: string; message: string };
