/**
 * Every message that crosses the worker boundary. Nothing else crosses: matrices travel as
 * transferable Float32Arrays inside trace chunks, never as JSON arrays.
 */
import type { ModelConfig } from '../model/config';
import type { HeadRef, LayerRef } from '../model/model';
import type { Sampling } from '../model/sampling';
import type { TokenExplanation } from '../model/tokenizer/explain';
import type { TokenizerKind as TextTokenizerKind } from '../model/tokenizer';
import type { RnnVsAttentionRow } from '../model/rnnVsAttention';
import type { Matrix, Stack, TraceChunk } from '../model/trace';

export type BackendName = 'webgl' | 'wasm' | 'cpu' | 'webgpu';

export interface BackendInfo {
  backend: BackendName;
  /** Why each better backend was not used, e.g. `webgl: no WebGL2 context in this worker`. */
  fallbacks: string[];
  /** The GPU renderer string when WebGL runs (`ANGLE (Google, SwiftShader …)`). */
  renderer?: string;
  /** wasm's threads: more than 1 only when the page is cross-origin isolated (COOP/COEP). */
  threads?: number;
  /** wasm: whether matrix products run on our own kernels (src/model/kernels/gemm.ts). */
  ownGemm?: boolean;
}

/**
 * `hub`: a Hugging Face model id (`gpt2`, `Helsinki-NLP/opus-mt-en-it`), read from
 * `https://huggingface.co/{id}/resolve/{revision}/{file}`. `url`: any folder (or a file in it).
 * Hub and URL files are kept in Cache Storage, so a second load needs no network.
 */
export type ModelSource =
  | { kind: 'shipped'; name: string }
  | { kind: 'hub'; id: string; revision?: string }
  | { kind: 'url'; url: string }
  | { kind: 'files'; files: File[] };

/** `ids`: the model has no tokenizer and the input is typed as token ids. */
export type TokenizerKind = TextTokenizerKind | 'ids';

export interface ModelInfo {
  name: string;
  config: ModelConfig;
  tokenizer: TokenizerKind;
  parameterCount: number;
  /**
   * Bytes the weights take in memory: float32, but on wasm a weight matrix whose values all fit
   * 16 bits (a float16 checkpoint's) takes 2 bytes a weight (model/halfWeights.ts).
   */
  weightBytes: number;
  /** Weight matrices kept as 16-bit codes (wasm; 0 elsewhere). */
  halfWeights: number;
  /** How the weights were read. */
  weightsFile: WeightsFileInfo;
  /** `tf.memory()` in the worker right after the load (the weights already uploaded). */
  memory: MemoryInfo;
  /** Milliseconds from the load request to the model being ready. */
  loadMs: number;
  /** Contents of `training.json` for models the project trained. */
  training?: unknown;
  /** The token-type (segment) embedding table `[types, d]`, for models that have one (BERT). */
  tokenTypeEmbeddings?: Matrix;
  /** What the user should know about the load: cached copies used offline, a file left out. */
  notices?: string[];
}

export type WeightsOrigin = 'network' | 'cache' | 'file';

export interface WeightsFileInfo {
  /** Size of `model.safetensors`. */
  bytes: number;
  /** Where its bytes came from: downloaded, Cache Storage (no network), or a picked file. */
  from: WeightsOrigin;
}

export interface MemoryInfo {
  /** `tf.memory().numBytes`: bytes of every live tensor. */
  tensorBytes: number;
  /** `tf.memory().numBytesInGPU` on WebGL: texture bytes; null on other backends. */
  gpuBytes: number | null;
}

/** Model files kept in Cache Storage by the worker. */
export interface CacheUsage {
  bytes: number;
  files: number;
}

/** A head addressed in the model (`attention: 'cross'` for a decoder's cross-attention). */
export type { HeadRef, LayerRef } from '../model/model';

export interface Interventions {
  /**
   * The model's own mask as trained: causal for a decoder, none (bidirectional) for an
   * encoder-only model. `false` flips it: no causal mask in a decoder, a causal mask *on* in an
   * encoder-only model (the experiment).
   */
  causalMask: boolean;
  usePositions: boolean;
  ablatedHeads: HeadRef[];
}

/** How `generate` chooses the token it appends (model/sampling.ts). */
export type { Sampling } from '../model/sampling';
export type { MergeStep, TokenExplanation } from '../model/tokenizer/explain';

/** What the tokenizer explorer and the "repeat random tokens" button ask the model's tokenizer. */
export type TokenizerQuery =
  | { kind: 'explain-token'; id: number }
  | { kind: 'explain-text'; text: string }
  /** `length` distinct random tokens (seeded), then the same again: the induction test's input. */
  | { kind: 'repeat'; length: number; seed: number };

export type TokenizerAnswer =
  | { kind: 'explain'; explanation: TokenExplanation }
  /** `ids`: the first half's tokens; `text`: both halves, for the input box. */
  | { kind: 'repeat'; text: string; ids: number[] }
  | { kind: 'error'; message: string };

export interface TokenInfo {
  id: number;
  /** Readable text of the piece (byte-level markers such as Ġ turned into spaces). */
  piece: string;
}

/** How many rows of logits a run reads back: every position, or only the last (large vocabularies). */
export type LogitRows = 'all' | 'last';

export interface RunInput {
  /** Text for the (decoder or only) stack; tokenized in the worker. */
  text?: string;
  /**
   * Or token ids, used as given. Text gets the model's special tokens added (an encoder–decoder's
   * decoder start token before the target, end-of-sequence after the source); ids do not.
   */
  ids?: number[];
  /** Token types of `ids`, one per id (BERT-style models; default all 0). Only with `ids`. */
  tokenTypeIds?: number[];
  /** Source text/ids of an encoder–decoder model. */
  sourceText?: string;
  sourceIds?: number[];
}

export type Request =
  /**
   * First message to a fresh worker. `pageUrl` locates shipped models (`models/NAME/` next to the
   * page); `backend` is tried first (tests, the bench, `?backend=`); `canvas` is an
   * OffscreenCanvas from the page for browsers whose workers cannot make one (Safari); `threads`:
   * tfjs-wasm's thread count when cross-origin isolated (`?threads=`, docs/performance.md).
   */
  | {
      type: 'init';
      pageUrl: string;
      backend?: BackendName;
      canvas?: OffscreenCanvas;
      threads?: number;
    }
  | { type: 'load'; id: number; source: ModelSource }
  | {
      type: 'run';
      id: number;
      input: RunInput;
      interventions: Interventions;
      captureQKV: boolean;
      topK: number;
      /** Default: every row while `tokens × vocab` stays small (≤ 4M floats), else only the last. */
      logits?: LogitRows;
      /**
       * `false`: predictions only, no chunks: the unmodified model (default interventions
       * required) through its batch driver, read back once. For baselines and the bench.
       */
      trace?: boolean;
      /**
       * The layer the page shows in full. A long input's run (docs/performance.md, long inputs)
       * sends every other layer's attention as `summaries` only; `detail` asks for them later.
       */
      detail?: LayerRef;
    }
  /**
   * The exact attention of a layer of run `run` that came as summaries: answered with a `chunk`
   * of that run (the layer traced again from its kept input), or nothing once a newer run has
   * replaced it.
   */
  | { type: 'detail'; id: number; run: number; layer: LayerRef; captureQKV: boolean }
  /**
   * Append a next token to the last run's input and run again (cached keys/values): the most
   * likely one, or one drawn as `sampling` says.
   */
  | {
      type: 'generate';
      id: number;
      interventions: Interventions;
      topK: number;
      captureQKV: boolean;
      /** Absent: greedy (the argmax). */
      sampling?: Sampling;
      /** As for `run`. */
      detail?: LayerRef;
    }
  /**
   * RNN against attention (model/rnnVsAttention.ts): one recurrent and one attention layer of
   * the loaded model's width and heads, on random weights, timed on this worker's backend for
   * n = 8, 16, … maxN: an `rnn-row` per length, then `rnn-done`. A newer run, generate or load
   * stops it after the length in progress.
   */
  | { type: 'rnn-vs-attention'; id: number; maxN: number; timeBoundMs: number }
  /** Ask the loaded model's tokenizer (answered by a `tokenizer` response of the same id). */
  | { type: 'tokenizer'; id: number; query: TokenizerQuery }
  /** Ask for a `cache` answer; `clear` empties the model cache first. */
  | { type: 'model-cache'; id: number; clear: boolean }
  /**
   * One interpretability tool on `input`, read from the model under `interventions` (default:
   * none, the unmodified model) as a traced run applies them; answered by an `analysis` message.
   * A newer analysis, run, generate or load stops it.
   */
  | {
      type: 'analyse';
      id: number;
      input: RunInput;
      analysis: AnalysisRequest;
      interventions?: Interventions;
    }
  /** Stop the run or generation in flight; nothing more is sent for it. */
  | { type: 'cancel'; id: number }
  /** Tests only: lose the WebGL context on purpose (WEBGL_lose_context) to exercise recovery. */
  | { type: 'debug-lose-context' };

/**
 * What each tool is asked (docs/interpretability.md). `position` defaults to the last; the
 * attributed `token` to the model's prediction there; patching's `answer` to the clean run's
 * prediction and `foil` to the corrupted run's (its runner-up where both agree).
 */
export type AnalysisRequest =
  | { tool: 'logit-lens'; position?: number; topK: number }
  | { tool: 'logit-attribution'; position?: number; token?: number }
  | { tool: 'activation-patching'; corrupted: RunInput; answer?: number; foil?: number };

/** What every tool's answer carries: the interventions it was computed under. */
interface AnalysedUnder {
  interventions: Interventions;
}

/** Matrices are row-major Float32Arrays (Int32Arrays for token ids), their buffers transferred. */
export interface LogitLensResult extends AnalysedUnder {
  tool: 'logit-lens';
  tokens: TokenInfo[];
  position: number;
  /** The residual points read, in order: `embeddings`, then `0 attn`, `0 mlp`, `1 attn`, … */
  points: string[];
  /** Top-1 token and its probability per point and position, `[points, tokens]`. */
  top1: Int32Array;
  top1Prob: Float32Array;
  /** The top `k` at `position` per point, `[points, k]`. */
  k: number;
  topIds: Int32Array;
  topProbs: Float32Array;
  /** The readable piece of every id above. */
  pieces: Record<number, string>;
}

export interface LogitAttributionResult extends AnalysedUnder {
  tool: 'logit-attribution';
  tokens: TokenInfo[];
  position: number;
  token: TokenInfo;
  layers: number;
  heads: number;
  /** Each head's direct contribution to the token's logit, `[layers, heads]`. */
  headShares: Float32Array;
  /** Each MLP's, `[layers]` (empty for attention-only models). */
  mlpShares: Float32Array;
  /** The embeddings' (tokens + positions: the direct path). */
  embedding: number;
  /** The attention output biases', the final norm's β and the logit bias. */
  biases: number;
  /** The model's own logit of the token: what all the shares sum to. */
  logit: number;
}

export interface ActivationPatchingResult extends AnalysedUnder {
  tool: 'activation-patching';
  tokens: TokenInfo[];
  corruptedTokens: TokenInfo[];
  /** The logit difference is answer − foil at the last position. */
  answer: TokenInfo;
  foil: TokenInfo;
  clean: number;
  corrupted: number;
  layers: number;
  heads: number;
  /** The logit difference with each head's output patched from the clean run, `[layers, heads]`. */
  headDiffs: Float32Array;
  /** With the residual at each block's input patched at each position, `[layers, tokens]`. */
  residualDiffs: Float32Array;
  /** (patched − corrupted) / (clean − corrupted), 1 where clean = corrupted; same layouts. */
  headRestored: Float32Array;
  residualRestored: Float32Array;
}

export type AnalysisResult = LogitLensResult | LogitAttributionResult | ActivationPatchingResult;

export interface Prediction {
  id: number;
  piece: string;
  prob: number;
}

/** What `generate` has written since the last `run`, and whether it can write more. */
export interface Continuation {
  /**
   * The decoded text of every token generated since the run (`tokenizer.decode`, so byte pieces
   * are merged into the characters they make); '' after a run. Bytes that only begin a character
   * are held back until the token that completes it.
   */
  text: string;
  /** The token `generate` would append next is the end of the text (`</s>`, `<|endoftext|>`). */
  ended: boolean;
}

export interface Timings {
  forwardMs: number;
  readbackMs: number;
  transferMs: number;
  totalMs: number;
}

export type Response =
  | { type: 'backend'; info: BackendInfo }
  /**
   * Bytes of a load's stage: `download` (network), `cache` (read from Cache Storage), `file`
   * (picked files), `weights` (tensors uploaded). `total` is 0 while unknown.
   */
  | { type: 'progress'; id: number; stage: string; loaded: number; total: number }
  | { type: 'loaded'; id: number; info: ModelInfo }
  | { type: 'tokens'; id: number; stack: Stack; tokens: TokenInfo[]; truncated: boolean }
  /**
   * One piece of the trace, posted as soon as it is read back. `queryStart` is the position of the
   * chunk's first query row: 0 for a full run, the old length for a `generate` step that only
   * computed the new token's row (the client merges it into the previous chunk).
   * `sentAt` is `performance.timeOrigin + performance.now()` in the worker, comparable across threads.
   */
  | { type: 'chunk'; id: number; chunk: TraceChunk; queryStart: number; sentAt: number }
  /**
   * `maskPosition`: present when `predictions` are a masked LM's fill-in at the input's first
   * `[MASK]` (that position); absent when they are for the last position (next token).
   */
  | {
      type: 'done';
      id: number;
      predictions: Prediction[];
      timings: Timings;
      maskPosition?: number;
      /** Present when `generate` can continue this sequence (a decoder's traced run or step). */
      continuation?: Continuation;
    }
  /** An `analyse` request's answer; `ms`: the worker's time for it. */
  | { type: 'analysis'; id: number; result: AnalysisResult; ms: number }
  | { type: 'error'; id: number; code: ErrorCode; message: string }
  | { type: 'rnn-row'; id: number; row: RnnVsAttentionRow }
  /** The RNN-vs-attention measurement is over; `stop` says why before `maxN`, null when it reached it. */
  | { type: 'rnn-done'; id: number; stop: string | null }
  | { type: 'tokenizer'; id: number; query: TokenizerQuery; answer: TokenizerAnswer }
  /** What the model cache holds, after a `model-cache` request or a load that used it. */
  | { type: 'cache'; usage: CacheUsage }
  /** The WebGL context is gone; the worker is useless now and the client replaces it. */
  | { type: 'context-lost' };

/** Machine-readable reasons a request failed; `message` says the same for people. */
export type ErrorCode =
  | 'empty-input'
  | 'no-model'
  | 'bad-input'
  | 'context-full'
  | 'fetch-failed'
  | 'bad-model'
  | 'unsupported-model'
  | 'too-large'
  | 'missing-source'
  | 'forward-failed'
  | 'no-backend'
  | 'worker-crashed'
  /** The backend's memory is corrupt (a wasm trap, a lost WebGL context): restart the worker. */
  | 'backend-corrupt';

/**
 * `public/models/index.json`: the shipped models, each in `public/models/NAME/`
 * (`config.json`, `model.safetensors`, optional `lab-tokenizer.json` and `training.json`).
 */
export interface ModelIndex {
  /** The model the app loads first. */
  default: string;
  models: ShippedModelEntry[];
}

export interface ShippedModelEntry {
  name: string;
  title: string;
  description: string;
  /** How to use the model, shown on the page next to its input. */
  howTo?: string;
  /** The input and head that show what the model learned: its first screen. */
  example?: ModelExample;
}

/**
 * A model's first screen: what it reads, the head and the query row to look at. Chosen per model
 * (scripts/recipes/) so that the prediction is confident and the head's pattern clear.
 */
export interface ModelExample {
  text: string;
  /** An encoder–decoder's source text. */
  source?: string;
  /** The head to focus, as the URL writes it: `d1.1`, `e0.2`, `d1.0x` (cross-attention). */
  head: string;
  /** The query row to select: a token index of the focused stack. */
  query: number;
}
