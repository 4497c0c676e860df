/**
 * What the worker does, as a plain class: no `self`, so Node tests drive it with the cpu or
 * wasm backend. It receives protocol requests and answers through `post`. This is the one place
 * that decides what runs: requests run one at a time, in order, and the latest run wins (a
 * newer run, a generate or a cancel makes the run in flight stop at its next layer and send
 * nothing more; a newer load stops the load in flight). The jobs themselves live beside it:
 * `loading.ts`, `inputs.ts` (special tokens), `session.ts` (generation), `forwards.ts`,
 * `analysis.ts` (the interpretability tools: any newer request stops one in flight).
 */
import {
  disposeKept,
  disposeModel,
  keptInputs,
  retraceLayer,
  type KeptInputs,
  type LayerRef,
} from '../model/model';
import { measureRnnVsAttention } from '../model/rnnVsAttention';
import { argmax, GREEDY } from '../model/sampling';
import { analyse } from './analysis';
import type { Stack } from '../model/trace';
import { weightBudget } from './budget';
import { EngineError, errorCodeOf, isAbort, superseded } from './engineErrors';
import {
  attentionBytes,
  bareForward,
  tracedForward,
  transferablesOf,
  type ForwardContext,
  type ForwardJob,
  type Post,
} from './forwards';
import { prepareInput, type Prepared } from './inputs';
import { infoInPlace, loadModel, type LoadedModel } from './loading';
import { clearModelCache, modelCacheUsage } from './modelCache';
import { modelFiles } from './modelFiles';
import type { CacheUsage, LogitRows, Request, RunInput } from './protocol';
import { disposeSession, generatedText, nextStep, type Session } from './session';
import { answerTokenizer } from './tokenizerQueries';

export type { Post } from './forwards';

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
  /**
   * A run whose full trace would hold more bytes of attention than this is a long input: its
   * layers come as summaries but for the one the page shows (default SUMMARY_ABOVE_BYTES).
   */
  summaryAbove?: number;
}

/**
 * GPT-2 small past about 200 tokens (12 layers × 12 heads × T² × 8 bytes), or the e2e test's
 * 1,024-token model; the shipped models' full context stays exact and whole. docs/performance.md,
 * long inputs.
 */
export const SUMMARY_ABOVE_BYTES = 32 * 2 ** 20;

/** Above this many logits (rows × vocabulary) a run reads back only the last row by default. */
const ALL_LOGITS_LIMIT = 4_000_000;
/** Progress messages are spaced at least this far apart (ms); the first and the last always go. */
const PROGRESS_INTERVAL_MS = 50;

type RunRequest = Extract<Request, { type: 'run' }>;
type GenerateRequest = Extract<Request, { type: 'generate' }>;
type DetailRequest = Extract<Request, { type: 'detail' }>;

export class Engine {
  private loaded: LoadedModel | null = null;
  private session: Session | null = null;
  /** The block inputs of the last run, when it was a long input's: what `detail` traces again. */
  private kept: { run: number; inputs: KeptInputs } | null = null;
  /** The run or generate whose output is still wanted; 0 when none is. */
  private currentRun = 0;
  private currentLoad = 0;
  /** The RNN-vs-attention measurement still wanted; 0 once any newer request arrived. */
  private currentMeasure = 0;
  /** The analysis whose answer is still wanted; 0 when none is. */
  private currentAnalysis = 0;
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
    if (request.type === 'load' || request.type === 'run' || request.type === 'generate')
      this.currentMeasure = 0;
    // An analysis is for the input on screen: a newer request that runs the model makes it stale.
    if (request.type !== 'model-cache' && request.type !== 'tokenizer') this.currentAnalysis = 0;
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
      case 'rnn-vs-attention':
        this.currentMeasure = request.id;
        return this.enqueue(request.id, () => this.measureRnn(request));
      case 'tokenizer':
        return this.enqueue(request.id, async () => {
          const answer = answerTokenizer(this.loaded, request.query);
          this.options.post(
            { type: 'tokenizer', id: request.id, query: request.query, answer },
            [],
          );
        });
      case 'analyse':
        this.currentAnalysis = request.id;
        return this.enqueue(request.id, () => this.analyse(request));
      case 'detail':
        return this.enqueue(request.id, () => this.detail(request));
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

  private dropSession(): void {
    disposeSession(this.session);
    this.session = null;
    this.dropKept();
  }

  private dropKept(): void {
    if (this.kept) disposeKept(this.kept.inputs);
    this.kept = null;
  }

  /** Whether a full trace of `input` would be too big for the page: see `summaryAbove`. */
  private isLong(input: Prepared): boolean {
    const limit = this.options.summaryAbove ?? SUMMARY_ABOVE_BYTES;
    return attentionBytes(this.requireModel().model, input) > limit;
  }

  /**
   * A long input's forward: summaries but for `detail`, and its block inputs kept (as the run
   * `id`'s once it succeeds) for later `detail` requests.
   */
  private async longForward(
    id: number,
    detail: LayerRef | undefined,
    forward: (long: NonNullable<ForwardJob['long']>) => Promise<Float32Array>,
  ): Promise<Float32Array> {
    const keep = keptInputs();
    try {
      const next = await forward({ detail, keep });
      this.kept = { run: id, inputs: keep };
      return next;
    } catch (e) {
      disposeKept(keep);
      throw e;
    }
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
        const code = errorCodeOf(e);
        if (code === null) return;
        const message = e instanceof Error ? e.message : String(e);
        this.options.post({ type: 'error', id, code, message }, []);
      }
    };
    this.queue = this.queue.then(run);
    return this.queue;
  }

  // -------------------------------------------------------------------------------------------
  // Loading: everything read and checked first; the previous model is replaced only at the end.

  private get cacheStorage(): CacheStorage | null {
    if (this.options.cache !== undefined) return this.options.cache;
    return typeof caches === 'undefined' ? null : caches;
  }

  private async load({ id, source }: Extract<Request, { type: 'load' }>): Promise<void> {
    const startedAt = performance.now();
    const files = modelFiles(
      source,
      this.options.pageUrl,
      this.options.fetch ?? fetch.bind(globalThis),
      this.loadAbort!.signal,
      this.cacheStorage,
    );
    let loaded: LoadedModel;
    try {
      const next = await loadModel(files, {
        budget: this.options.weightBudget ?? weightBudget(undefined),
        progress: this.progressReporter(id),
        isSuperseded: () => this.currentLoad !== id,
      });
      if (this.currentLoad !== id) {
        disposeModel(next.model);
        throw superseded();
      }
      this.unload();
      loaded = { ...next, info: infoInPlace(next.info, performance.now() - startedAt) };
    } catch (e) {
      // A superseded load's downloads were aborted, which drops their half-written entries.
      if (!isAbort(e)) await files.discard();
      throw e;
    }
    this.loaded = loaded;
    this.options.post({ type: 'loaded', id, info: loaded.info }, []);
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

  private progressReporter(id: number): (stage: string, loaded: number, total: number) => void {
    let last = -Infinity;
    return (stage, loaded, total) => {
      const t = performance.now();
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

  private forwardContext(id: number): ForwardContext {
    const { model, tokenizer } = this.requireModel();
    return {
      model,
      piece: (t) => (tokenizer ? tokenizer.piece(t) : String(t)),
      post: this.options.post,
      stopped: () => this.currentRun !== id,
      yieldToMessages: () => this.yieldToMessages(),
      padToBuckets: this.options.padToBuckets,
    };
  }

  /** The request's ids with their special tokens; the page is told each stack's tokens. */
  private prepare(id: number, input: RunInput): Prepared {
    const { model, tokenizer } = this.requireModel();
    const { prepared, stacks } = prepareInput(model.config, tokenizer, input);
    for (const { stack, ids, truncated } of stacks) this.postTokens(id, stack, ids, truncated);
    return prepared;
  }

  private postTokens(id: number, stack: Stack, ids: number[], truncated: boolean): void {
    const { piece } = this.forwardContext(id);
    const tokens = ids.map((t) => ({ id: t, piece: piece(t) }));
    this.options.post({ type: 'tokens', id, stack, tokens, truncated }, []);
  }

  private defaultLogitRows(tokens: number): LogitRows {
    const vocab = this.requireModel().model.config.vocabSize;
    return tokens * vocab <= ALL_LOGITS_LIMIT ? 'all' : 'last';
  }

  private async run(request: RunRequest): Promise<void> {
    if (this.currentRun !== request.id) return;
    const startedAt = performance.now();
    const input = this.prepare(request.id, request.input);
    this.dropSession();
    // A masked LM's fill-in is read at its [MASK], so every row comes back.
    const logits =
      input.maskPosition !== undefined
        ? 'all'
        : (request.logits ?? this.defaultLogitRows(input.ids.length));
    const job: ForwardJob = {
      id: request.id,
      input,
      interventions: request.interventions,
      captureQKV: request.captureQKV,
      topK: request.topK,
      logits,
      queryStart: 0,
      startedAt,
    };
    // A decoder's traced run is what `generate` continues: `done` says whether it can.
    const { config } = this.requireModel().model;
    if (input.maskPosition === undefined && config.architecture !== 'encoder-only') {
      job.continuation = (next) => ({ text: '', ended: next === this.endOfText() });
    }
    const context = this.forwardContext(request.id);
    const next =
      request.trace === false
        ? await bareForward(context, job)
        : this.isLong(input)
          ? await this.longForward(request.id, request.detail, (long) =>
              tracedForward(context, { ...job, long }),
            )
          : await tracedForward(context, job);
    this.session = { ...input, promptIds: input.ids, next, logits };
  }

  /** The id that ends a text, as `prepareInput` appends it; null when the model has none. */
  private endOfText(): number | null {
    const { model, tokenizer } = this.requireModel();
    return tokenizer?.eosId ?? model.config.eosTokenId;
  }

  private async analyse(request: Extract<Request, { type: 'analyse' }>): Promise<void> {
    if (this.currentAnalysis !== request.id) return;
    const { model, tokenizer } = this.requireModel();
    await analyse(
      {
        model,
        tokenizer,
        piece: this.forwardContext(request.id).piece,
        post: this.options.post,
        stopped: () => this.currentAnalysis !== request.id,
        yieldToMessages: () => this.yieldToMessages(),
      },
      request,
    );
  }

  /** A long input's layer again, exactly: only while its run is the latest and still kept. */
  private async detail(request: DetailRequest): Promise<void> {
    const kept = this.kept;
    if (kept?.run !== request.run || this.currentRun !== request.run) return;
    const { model } = this.requireModel();
    const chunk = await retraceLayer(model, kept.inputs, request.layer, request.captureQKV);
    this.options.post(
      {
        type: 'chunk',
        id: request.run,
        chunk,
        queryStart: 0,
        sentAt: performance.timeOrigin + performance.now(),
      },
      transferablesOf(chunk),
    );
  }

  private async generate(request: GenerateRequest): Promise<void> {
    if (this.currentRun !== request.id) return;
    const startedAt = performance.now();
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
    if (argmax(session.next) === this.endOfText()) {
      throw new EngineError('bad-input', 'the model has ended the text: it predicts its end token');
    }
    // A long input's trace is summarised, and its block inputs are kept for `detail`: a cached
    // step extends those the previous step kept, and the page folds its rows into the summaries.
    // Without them (the sequence has just become long, or a run preceded) the step runs the
    // whole sequence into a fresh cache, summarised.
    const long = this.isLong({ ...session, ids: [...session.ids, 0] });
    const kept = long ? this.keptFor(session) : null;
    const step = nextStep(
      session,
      request.interventions,
      request.sampling ?? GREEDY,
      !long || !!kept,
    );
    this.postTokens(request.id, 'decoder', step.ids, false);
    this.session = null; // until the step succeeds: a half-filled cache is useless
    const extend = kept !== null && step.queryStart > 0; // the step adds to the kept inputs
    if (!extend) this.dropKept();
    try {
      const job: ForwardJob = {
        id: request.id,
        input: step.input,
        interventions: request.interventions,
        captureQKV: request.captureQKV,
        topK: request.topK,
        logits: session.logits,
        ...(step.cache ? { cache: step.cache } : {}),
        queryStart: step.queryStart,
        startedAt,
        continuation: (next) => ({
          text: generatedText(this.requireModel().tokenizer, session.promptIds, step.ids),
          ended: next === this.endOfText(),
        }),
      };
      const context = this.forwardContext(request.id);
      let next: Float32Array;
      if (extend) {
        const extended = { detail: request.detail, keep: kept };
        next = await tracedForward(context, { ...job, long: extended });
        this.kept!.run = request.id;
      } else {
        next = long
          ? await this.longForward(request.id, request.detail, (l) =>
              tracedForward(context, { ...job, long: l }),
            )
          : await tracedForward(context, job);
      }
      this.session = { ...session, ids: step.ids, next };
    } catch (e) {
      disposeSession(session);
      this.dropKept(); // a failed step may have extended some layers' inputs and not others
      throw e;
    }
  }

  /** The kept block inputs of `session`'s sequence, if the last forward kept them. */
  private keptFor(session: Session): KeptInputs | null {
    const decoder = this.kept?.inputs.stacks.decoder;
    return decoder && decoder.real === session.ids.length ? this.kept!.inputs : null;
  }

  private async measureRnn({
    id,
    maxN,
    timeBoundMs,
  }: Extract<Request, { type: 'rnn-vs-attention' }>): Promise<void> {
    const { dModel, nHeads } = this.requireModel().model.config;
    const stopped = () => this.currentMeasure !== id;
    const stop = await measureRnnVsAttention({
      width: dModel,
      heads: nHeads,
      maxN,
      timeBoundMs,
      onRow: async (row) => {
        this.options.post({ type: 'rnn-row', id, row }, []);
        await this.yieldToMessages();
      },
      shouldStop: stopped,
    });
    const interrupted = stopped() ? 'stopped by a newer request' : stop;
    this.options.post({ type: 'rnn-done', id, stop: interrupted }, []);
  }
}
