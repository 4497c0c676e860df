/**
 * What the worker does, as a plain class: no `self`, so Node tests drive it with the cpu or
 * wasm backend. It receives protocol requests and answers through `post`. Requests run one at a
 * time, in order; the latest run wins: a newer run, a generate or a cancel makes the run in
 * flight stop at its next layer and send nothing more.
 */
import { loadCheckpoint } from '../model/checkpoint';
import { ConfigError, parseConfig, stacksOf, type ModelConfig } from '../model/config';
import * as tf from '@tensorflow/tfjs-core';
import {
  createKVCache,
  decoderLogits,
  disposeModel,
  encoderDecoderLogits,
  ForwardError,
  runForward,
  type ForwardOptions,
  type KVCache,
  type Model,
} from '../model/model';
import { parameterCount } from '../model/params';
import {
  gpt2Tokenizer,
  MarianTokenizer,
  marianTokenizer,
  tokenizerFromJson,
  TokenizerError,
  type Tokenizer,
} from '../model/tokenizer';
import type { Stack, TraceChunk } from '../model/trace';
import { clearModelCache, modelCacheUsage } from './modelCache';
import {
  FetchError,
  ModelFileError,
  modelFiles,
  weightBudget,
  type ModelFiles,
} from './modelFiles';
import { uploadingEachTensor } from './upload';
import type {
  CacheUsage,
  ErrorCode,
  Interventions,
  LogitRows,
  ModelInfo,
  Prediction,
  Request,
  Response,
  RunInput,
  TokenInfo,
} from './protocol';

export type Post = (message: Response, transfer: Transferable[]) => void;

export interface EngineOptions {
  post: Post;
  /** URL of the page: shipped models are fetched from `models/NAME/` next to it. */
  pageUrl: string;
  fetch?: typeof fetch;
  /**
   * Pad sequences to the next length bucket (16, 32, 64, …) so that the WebGL backend reuses
   * compiled shaders; on cpu and wasm padding only costs time, so the worker turns it off there.
   */
  padToBuckets: boolean;
  /** Most float32 weight bytes a load accepts (default: see `weightBudget`). */
  weightBudget?: number;
  /** Where Hub and URL model files are kept; default `caches` where there is one, else none. */
  cache?: CacheStorage | null;
}

/** Above this many logits (rows × vocabulary) a run reads back only the last row by default. */
const ALL_LOGITS_LIMIT = 4_000_000;
/** GPT-2's r50k vocabulary: 50,000 merges + 256 bytes + <|endoftext|>. */
const GPT2_VOCAB = 50257;
const NO_AFFIXES = { prefix: [], suffix: [], allowEmpty: false };
/** Progress messages are spaced at least this far apart (ms); the first and the last always go. */
const PROGRESS_INTERVAL_MS = 50;
/** The files of a Marian tokenizer, next to config.json as in the Hub's `opus-mt-*` repositories. */
const MARIAN_FILES = ['source.spm', 'target.spm', 'vocab.json'] as const;

class EngineError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The smallest bucket (16, 32, 64, …) holding `length` tokens, never beyond the context. */
export function bucketLength(length: number, contextLength: number): number {
  let bucket = 16;
  while (bucket < length) bucket *= 2;
  return Math.min(bucket, contextLength);
}

/**
 * What a chunk's message moves to the page instead of copying: the one buffer its read-back
 * matrices share (the one behind `hidden`). Arrays made on the host (masks, head gates) are
 * copied instead: the model hands the same mask object to every layer, and moving it with
 * layer 0 would leave layer 1 holding a detached array.
 */
export function transferablesOf(chunk: TraceChunk): ArrayBuffer[] {
  return [chunk.hidden.data.buffer as ArrayBuffer];
}

/** Top-k of softmax(logits), computed in float64. */
export function topK(logits: Float32Array, k: number, piece: (id: number) => string): Prediction[] {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const best: number[] = [];
  for (let id = 0; id < logits.length; id++) {
    if (best.length === k && logits[id] <= logits[best[k - 1]]) continue;
    let at = best.length === k ? k - 1 : best.length;
    best[at] = id;
    while (at > 0 && logits[best[at - 1]] < logits[id]) {
      best[at] = best[at - 1];
      best[--at] = id;
    }
  }
  return best.map((id) => ({ id, piece: piece(id), prob: Math.exp(logits[id] - max) / sum }));
}

interface LoadedModel {
  model: Model;
  info: ModelInfo;
  tokenizer: Tokenizer | null;
}

/** The last finished sequence, which `generate` extends. */
interface Session {
  ids: number[];
  sourceIds?: number[];
  /** Argmax of the last position: the token `generate` appends. */
  nextId: number;
  logits: LogitRows;
  /** Keys/values of `ids`, valid only for the interventions it was filled under. */
  cache?: { kv: KVCache; interventions: string };
}

interface Prepared {
  ids: number[];
  sourceIds?: number[];
}

/** A run's forward, whether from `run` or `generate`. */
interface ForwardJob {
  id: number;
  input: Prepared;
  interventions: Interventions;
  captureQKV: boolean;
  topK: number;
  logits: LogitRows;
  cache?: KVCache;
  /** Position of the first token computed (cached tokens come before it). */
  queryStart: number;
  startedAt: number;
}

function now(): number {
  return performance.now();
}

function interventionsKey(i: Interventions): string {
  const heads = i.ablatedHeads
    .map((h) => `${h.stack}.${h.attention ?? 'self'}.${h.layer}.${h.head}`)
    .sort();
  return JSON.stringify([i.causalMask, i.usePositions, heads]);
}

function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}

/** The parsed config, its errors as the engine reports them. */
function configOf(json: unknown): ModelConfig {
  try {
    return parseConfig(json);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new EngineError(
      e.code === 'unsupported-model' ? 'unsupported-model' : 'bad-model',
      e.message,
    );
  }
}

function parseJson(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new EngineError('bad-model', `${file} is not valid JSON: ${(e as Error).message}`);
  }
}

export class Engine {
  private loaded: LoadedModel | null = null;
  private session: Session | null = null;
  /** The run or generate whose output is still wanted; 0 when none is. */
  private currentRun = 0;
  private currentLoad = 0;
  private loadAbort: AbortController | null = null;
  private queue: Promise<void> = Promise.resolve();
  /** Wakes the forward after pending messages had their turn (see `yieldToMessages`). */
  private readonly wake = new MessageChannel();
  private wakeWaiters: (() => void)[] = [];

  constructor(private readonly options: EngineOptions) {
    this.wake.port1.onmessage = () => this.wakeWaiters.shift()?.();
  }

  /** Handle one request; resolves when its work (queued behind earlier requests) is over. */
  handle(request: Request): Promise<void> {
    switch (request.type) {
      case 'load':
        this.currentLoad = request.id;
        this.currentRun = 0;
        this.loadAbort?.abort();
        this.loadAbort = new AbortController();
        return this.enqueue(request.id, () => this.load(request));
      case 'model-cache':
        return this.enqueue(request.id, () => this.reportCache(request.clear));
      case 'run':
        this.currentRun = request.id;
        return this.enqueue(request.id, () => this.run(request));
      case 'generate':
        this.currentRun = request.id;
        return this.enqueue(request.id, () => this.generate(request));
      case 'cancel':
        if (this.currentRun === request.id) this.currentRun = 0;
        return Promise.resolve();
      default:
        // `init` and `debug-lose-context` concern the backend: the worker shell answers them.
        return Promise.resolve();
    }
  }

  /** Free the model, the cache and the wake-up channel (tests; a worker is simply terminated). */
  dispose(): void {
    this.unload();
    this.wake.port1.close();
  }

  private unload(): void {
    this.dropSession();
    if (this.loaded) disposeModel(this.loaded.model);
    this.loaded = null;
  }

  /**
   * Let the messages that arrived meanwhile be handled, so that a newer run or a cancel is seen
   * before the next layer. Readbacks on cpu and wasm resolve as microtasks and would never give
   * the event loop a turn; a posted message is a task, queued behind those already waiting.
   */
  private yieldToMessages(): Promise<void> {
    return new Promise((resolve) => {
      this.wakeWaiters.push(resolve);
      this.wake.port2.postMessage(null);
    });
  }

  private enqueue(id: number, job: () => Promise<void>): Promise<void> {
    const run = async () => {
      try {
        await job();
      } catch (e) {
        this.fail(id, e);
      }
    };
    this.queue = this.queue.then(run);
    return this.queue;
  }

  private fail(id: number, e: unknown): void {
    if (e instanceof ForwardError && e.code === 'cancelled') return;
    if (isAbort(e)) return;
    let code: ErrorCode = 'forward-failed';
    if (e instanceof EngineError) code = e.code;
    else if (e instanceof FetchError) code = 'fetch-failed';
    else if (e instanceof ModelFileError) code = e.code === 'too-large' ? 'too-large' : 'bad-model';
    else if (e instanceof TokenizerError) code = 'bad-input';
    else if (e instanceof ForwardError) {
      code = e.code === 'empty-input' || e.code === 'missing-source' ? e.code : 'bad-input';
    }
    const message = e instanceof Error ? e.message : String(e);
    this.options.post({ type: 'error', id, code, message }, []);
  }

  // -------------------------------------------------------------------------------------------
  // Loading

  private get cacheStorage(): CacheStorage | null {
    if (this.options.cache !== undefined) return this.options.cache;
    return typeof caches === 'undefined' ? null : caches;
  }

  private async load({ id, source }: Extract<Request, { type: 'load' }>): Promise<void> {
    const startedAt = now();
    const signal = this.loadAbort!.signal;
    const superseded = () => this.currentLoad !== id;
    const files = modelFiles(
      source,
      this.options.pageUrl,
      this.options.fetch ?? fetch.bind(globalThis),
      signal,
      this.cacheStorage,
    );
    const progress = this.progressReporter(id);
    let model: Model | null = null;
    try {
      const configJson = parseJson((await files.read('config.json', true))!, 'config.json');
      // Checked before anything big is fetched: an unsupported model costs one small request.
      const config = configOf(configJson);
      const tokenizer = await this.tokenizerFor(config, files);
      const trainingBytes =
        config.family === 'attention-lab' ? await files.read('training.json') : null;
      const budget = this.options.weightBudget ?? weightBudget(undefined);
      const weights = await files.readWeights(budget, progress);
      if (superseded()) throw new DOMException('superseded', 'AbortError');
      try {
        model = uploadingEachTensor((step) =>
          loadCheckpoint(configJson, weights.bytes, (l, t) => {
            step();
            progress('weights', l, t);
          }),
        );
      } catch (e) {
        throw new EngineError('bad-model', (e as Error).message);
      }
      if (superseded()) throw new DOMException('superseded', 'AbortError');
      const count = parameterCount(model.params);
      this.unload();
      const memory = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
      const info: ModelInfo = {
        name: files.name,
        config: model.config,
        tokenizer: tokenizer?.kind ?? 'ids',
        parameterCount: count,
        weightBytes: count * 4,
        weightsFile: { bytes: weights.bytes.byteLength, from: weights.from },
        memory: { tensorBytes: memory.numBytes, gpuBytes: memory.numBytesInGPU ?? null },
        loadMs: now() - startedAt,
        ...(trainingBytes ? { training: parseJson(trainingBytes, 'training.json') } : {}),
      };
      this.loaded = { model, info, tokenizer };
      this.options.post({ type: 'loaded', id, info }, []);
    } catch (e) {
      if (model && this.loaded?.model !== model) disposeModel(model);
      // A superseded load's downloads were aborted, which drops their half-written entries.
      if (!isAbort(e)) await files.discard();
      throw e;
    }
    if (source.kind === 'hub' || source.kind === 'url') await this.reportCache(false);
  }

  /** Post what the model cache holds, after emptying it when asked. */
  private async reportCache(clear: boolean): Promise<void> {
    const storage = this.cacheStorage;
    let usage: CacheUsage = { bytes: 0, files: 0 };
    if (storage) {
      if (clear) await clearModelCache(storage);
      usage = await modelCacheUsage(storage);
    }
    this.options.post({ type: 'cache', usage }, []);
  }

  private async tokenizerFor(config: ModelConfig, files: ModelFiles): Promise<Tokenizer | null> {
    let tokenizer: Tokenizer | null = null;
    try {
      // Published GPT-2 checkpoints use r50k, which ships with the app (`gpt-tokenizer`); their
      // repositories' tokenizer.json is Hugging Face's format, not ours, and is not read.
      if (config.family === 'gpt2' && config.vocabSize >= GPT2_VOCAB) {
        tokenizer = await gpt2Tokenizer();
      } else if (config.family === 'marian') {
        tokenizer = await this.marianTokenizerOf(config, files);
      } else {
        // A GPT-2-layout model with a smaller vocabulary (a test fixture) takes ids without one.
        const json = await files.read('tokenizer.json');
        if (json) tokenizer = tokenizerFromJson(parseJson(json, 'tokenizer.json'));
      }
    } catch (e) {
      if (e instanceof EngineError || e instanceof FetchError || e instanceof ModelFileError) {
        throw e;
      }
      throw new EngineError('bad-model', (e as Error).message);
    }
    if (tokenizer && tokenizer.vocabSize > config.vocabSize) {
      throw new EngineError(
        'bad-model',
        `the tokenizer has ${tokenizer.vocabSize} tokens but the model only ${config.vocabSize}`,
      );
    }
    return tokenizer;
  }

  /** Marian's tokenizer from its three files; none of them: the model takes ids. */
  private async marianTokenizerOf(
    config: ModelConfig,
    files: ModelFiles,
  ): Promise<MarianTokenizer | null> {
    const [sourceSpm, targetSpm, vocab] = await Promise.all(MARIAN_FILES.map((f) => files.read(f)));
    if (!sourceSpm && !targetSpm && !vocab) return null;
    if (!sourceSpm || !targetSpm || !vocab) {
      const missing = MARIAN_FILES.filter((_, i) => ![sourceSpm, targetSpm, vocab][i]);
      throw new EngineError(
        'bad-model',
        `a Marian tokenizer needs ${MARIAN_FILES.join(', ')}; ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing`,
      );
    }
    return marianTokenizer({
      sourceSpm,
      targetSpm,
      vocab: parseJson(vocab, 'vocab.json') as Record<string, number>,
      vocabSize: config.vocabSize,
      ...(config.eosTokenId === null ? {} : { eosId: config.eosTokenId }),
      ...(config.padTokenId === null ? {} : { padId: config.padTokenId }),
    });
  }

  private progressReporter(id: number): (stage: string, loaded: number, total: number) => void {
    let last = -Infinity;
    return (stage, loaded, total) => {
      const t = now();
      if (loaded < total && t - last < PROGRESS_INTERVAL_MS) return;
      last = t;
      this.options.post({ type: 'progress', id, stage, loaded, total }, []);
    };
  }

  // -------------------------------------------------------------------------------------------
  // Running

  private requireModel(): LoadedModel {
    if (!this.loaded) throw new EngineError('no-model', 'no model is loaded yet');
    return this.loaded;
  }

  /** Stack whose tokens the user types and whose last position gets predictions. */
  private mainStack(): Stack {
    const stacks = stacksOf(this.requireModel().model.config);
    return stacks[stacks.length - 1];
  }

  /** Ids of the text alone: the special tokens around it are added by `idsOf`. */
  private encode(text: string, what: string, side: 'source' | 'target'): number[] {
    const { tokenizer } = this.requireModel();
    if (tokenizer instanceof MarianTokenizer) {
      // Marian splits a translation's target with its own SentencePiece model; both of its
      // encoders end the text with </s>, which `idsOf` adds (to the source) itself.
      const ids = side === 'target' ? tokenizer.encodeTarget(text) : tokenizer.encode(text);
      return ids.slice(0, -1);
    }
    if (tokenizer) return tokenizer.encode(text);
    // Without a tokenizer the text is the ids themselves: "3 14 15".
    const parts = text.trim().split(/[\s,]+/);
    const ids = parts.map(Number);
    if (ids.some((n) => !Number.isInteger(n))) {
      throw new EngineError(
        'bad-input',
        `this model has no tokenizer: type ${what} as token ids separated by spaces`,
      );
    }
    return ids;
  }

  private piece(id: number): string {
    const { tokenizer } = this.requireModel();
    return tokenizer ? tokenizer.piece(id) : String(id);
  }

  private tokensMessage(id: number, stack: Stack, ids: number[], truncated: boolean): void {
    const tokens: TokenInfo[] = ids.map((t) => ({ id: t, piece: this.piece(t) }));
    this.options.post({ type: 'tokens', id, stack, tokens, truncated }, []);
  }

  /**
   * Ids of one stack from given ids (used as they are) or from text (with the model's special
   * tokens around it), cut to the context (`truncated` says so).
   */
  private idsOf(
    text: string | undefined,
    given: number[] | undefined,
    what: string,
    affixes: { prefix: number[]; suffix: number[]; allowEmpty: boolean },
    side: 'source' | 'target' = 'source',
  ): { ids: number[]; truncated: boolean } {
    const cfg = this.requireModel().model.config;
    const content = given ?? (text && text.trim() !== '' ? this.encode(text, what, side) : []);
    if (content.length === 0 && !affixes.allowEmpty) {
      throw new EngineError('empty-input', `${what} is empty: type some text first`);
    }
    for (const t of content) {
      if (!Number.isInteger(t) || t < 0 || t >= cfg.vocabSize) {
        throw new EngineError(
          'bad-input',
          `token id ${t} is outside the vocabulary (0–${cfg.vocabSize - 1})`,
        );
      }
    }
    const all = given ?? [...affixes.prefix, ...content, ...affixes.suffix];
    const truncated = all.length > cfg.contextLength;
    return { ids: truncated ? all.slice(0, cfg.contextLength) : all, truncated };
  }

  private prepare(id: number, input: RunInput): Prepared {
    const { model, tokenizer } = this.requireModel();
    const cfg = model.config;
    if (cfg.architecture !== 'encoder-decoder') {
      const { ids, truncated } = this.idsOf(input.text, input.ids, 'the input', NO_AFFIXES);
      this.tokensMessage(id, this.mainStack(), ids, truncated);
      return { ids };
    }
    // Marian-style: the source ends with </s>, the target starts with the decoder start token.
    const eos = tokenizer?.eosId ?? cfg.eosTokenId;
    const source = this.idsOf(input.sourceText, input.sourceIds, 'the source text', {
      prefix: [],
      suffix: eos === null ? [] : [eos],
      allowEmpty: false,
    });
    const start = cfg.decoderStartTokenId;
    // An empty target is fine: the decoder start token alone asks for the first word.
    const target = this.idsOf(
      input.text,
      input.ids,
      'the target text',
      { prefix: start === null ? [] : [start], suffix: [], allowEmpty: start !== null },
      'target',
    );
    this.tokensMessage(id, 'encoder', source.ids, source.truncated);
    this.tokensMessage(id, 'decoder', target.ids, target.truncated);
    return { ids: target.ids, sourceIds: source.ids };
  }

  private defaultLogitRows(tokens: number): LogitRows {
    const vocab = this.requireModel().model.config.vocabSize;
    return tokens * vocab <= ALL_LOGITS_LIMIT ? 'all' : 'last';
  }

  private async run(request: Extract<Request, { type: 'run' }>): Promise<void> {
    if (this.currentRun !== request.id) return;
    const startedAt = now();
    const input = this.prepare(request.id, request.input);
    this.dropSession();
    const logits = request.logits ?? this.defaultLogitRows(input.ids.length);
    if (request.trace === false) {
      const nextId = await this.bareForward(request, input, startedAt);
      this.session = { ...input, nextId, logits };
      return;
    }
    const nextId = await this.forward({
      id: request.id,
      input,
      interventions: request.interventions,
      captureQKV: request.captureQKV,
      topK: request.topK,
      logits,
      queryStart: 0,
      startedAt,
    });
    this.session = { ...input, nextId, logits };
  }

  private async generate(request: Extract<Request, { type: 'generate' }>): Promise<void> {
    if (this.currentRun !== request.id) return;
    const startedAt = now();
    const cfg = this.requireModel().model.config;
    const session = this.session;
    if (cfg.architecture === 'encoder-only') {
      throw new EngineError('bad-input', 'an encoder-only model does not generate text');
    }
    if (!session) throw new EngineError('bad-input', 'run a text before generating');
    if (session.ids.length >= cfg.contextLength) {
      throw new EngineError(
        'context-full',
        `the context is full: this model reads at most ${cfg.contextLength} tokens`,
      );
    }
    const ids = [...session.ids, session.nextId];
    this.tokensMessage(request.id, 'decoder', ids, false);
    const key = interventionsKey(request.interventions);
    // Cached keys/values stay right only while every earlier row is unchanged: same
    // interventions, and a causal mask so that no earlier token sees the new one.
    const reuse = session.cache?.interventions === key && request.interventions.causalMask;
    if (!reuse) {
      session.cache?.kv.dispose();
      session.cache = request.interventions.causalMask
        ? { kv: createKVCache(), interventions: key }
        : undefined;
    }
    this.session = null; // until the step succeeds: a half-filled cache is useless
    const job: ForwardJob = {
      id: request.id,
      input: { ids: reuse ? [session.nextId] : ids, sourceIds: session.sourceIds },
      interventions: request.interventions,
      captureQKV: request.captureQKV,
      topK: request.topK,
      logits: session.logits,
      cache: session.cache?.kv,
      queryStart: reuse ? session.ids.length : 0,
      startedAt,
    };
    try {
      const nextId = await this.forward(job);
      this.session = { ...session, ids, nextId };
    } catch (e) {
      session.cache?.kv.dispose();
      throw e;
    }
  }

  private dropSession(): void {
    this.session?.cache?.kv.dispose();
    this.session = null;
  }

  /**
   * Predictions without a trace: the model's batch driver (no recording, one readback), for
   * baselines and the bench. It knows no interventions, so it only runs the unmodified model.
   */
  private async bareForward(
    request: Extract<Request, { type: 'run' }>,
    input: Prepared,
    startedAt: number,
  ): Promise<number> {
    const { interventions: i } = request;
    if (!i.causalMask || !i.usePositions || i.ablatedHeads.length > 0) {
      throw new EngineError('bad-input', 'a run without a trace cannot apply interventions');
    }
    const { model } = this.requireModel();
    const vocab = model.config.vocabSize;
    const forwardStart = now();
    const last = tf.tidy(() => {
      const ids = tf.tensor2d([input.ids], [1, input.ids.length], 'int32');
      const logits = input.sourceIds
        ? encoderDecoderLogits(
            model,
            tf.tensor2d([input.sourceIds], undefined, 'int32'),
            ids,
            'last',
          )
        : decoderLogits(model, ids, 'last');
      return tf.reshape(logits, [vocab]);
    });
    const readStart = now();
    const values = (await last.data()) as Float32Array;
    last.dispose();
    const end = now();
    const predictions = topK(values, Math.max(1, request.topK), (id) => this.piece(id));
    this.options.post(
      {
        type: 'done',
        id: request.id,
        predictions: predictions.slice(0, request.topK),
        timings: {
          forwardMs: end - forwardStart,
          readbackMs: end - readStart,
          transferMs: 0,
          totalMs: end - startedAt,
        },
      },
      [],
    );
    return predictions[0].id;
  }

  /** Run the forward, stream its chunks, post `done`; resolves to the argmax of the last position. */
  private async forward(job: ForwardJob): Promise<number> {
    const { model } = this.requireModel();
    const cfg = model.config;
    const main = this.mainStack();
    const longest = Math.max(job.input.ids.length, job.input.sourceIds?.length ?? 0);
    const options: ForwardOptions = {
      causalMask: job.interventions.causalMask,
      usePositions: job.interventions.usePositions,
      ablatedHeads: job.interventions.ablatedHeads,
      captureQKV: job.captureQKV,
      logits: job.logits,
      shouldStop: () => this.currentRun !== job.id,
      ...(job.cache ? { cache: job.cache } : {}),
      ...(this.options.padToBuckets && !job.cache
        ? { padTo: bucketLength(longest, cfg.contextLength) }
        : {}),
    };
    let postMs = 0;
    let inCallbackMs = 0;
    let readbackMs = 0;
    options.onReadback = (ms) => (readbackMs += ms);
    let predictions: Prediction[] = [];
    const forwardStart = now();
    await runForward(model, job.input, options, async (chunk) => {
      if (this.currentRun !== job.id) {
        throw new ForwardError('cancelled', 'the forward was superseded or cancelled');
      }
      const t = now();
      // Read what `done` needs before the logits' buffer moves to the page.
      if (chunk.type === 'output' && chunk.stack === main && chunk.logits) {
        const vocab = chunk.logits.shape[1];
        const last = chunk.logits.data.subarray(chunk.logits.data.length - vocab);
        predictions = topK(last, Math.max(1, job.topK), (id) => this.piece(id));
      }
      const queryStart = chunk.stack === 'encoder' ? 0 : job.queryStart;
      this.options.post(
        {
          type: 'chunk',
          id: job.id,
          chunk,
          queryStart,
          sentAt: performance.timeOrigin + performance.now(),
        },
        transferablesOf(chunk),
      );
      postMs += now() - t;
      await this.yieldToMessages();
      inCallbackMs += now() - t;
    });
    const end = now();
    if (predictions.length === 0) throw new EngineError('forward-failed', 'no logits came back');
    this.options.post(
      {
        type: 'done',
        id: job.id,
        predictions: predictions.slice(0, job.topK),
        timings: {
          forwardMs: end - forwardStart - inCallbackMs - readbackMs,
          readbackMs,
          transferMs: postMs,
          totalMs: end - job.startedAt,
        },
      },
      [],
    );
    return predictions[0].id;
  }
}
