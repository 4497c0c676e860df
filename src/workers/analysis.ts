/**
 * The interpretability tools in the worker (`analyse` requests): the input prepared as a run's,
 * the model maths of src/model/analysis/ on the worker's backend under the request's
 * interventions, read back, and one `analysis`
 * message posted with its arrays' buffers transferred. Activation patching reads back layer by
 * layer and stops between layers once superseded. docs/interpretability.md.
 */
import * as tf from '@tensorflow/tfjs-core';
import { logitAttribution } from '../model/analysis/attribution';
import { logitLens } from '../model/analysis/logitLens';
import {
  answerAndFoil,
  disposePatchingRuns,
  patchHeads,
  patchingRuns,
  patchResidual,
  restoredFraction,
} from '../model/analysis/patching';
import {
  NO_INTERVENTIONS,
  residualPoints,
  unsupportedReason,
  type StreamInterventions,
} from '../model/analysis/stream';
import { checkVocabulary, type Model } from '../model/model';
import type { Tokenizer } from '../model/tokenizer';
import { EngineError, superseded } from './engineErrors';
import type { Post } from './forwards';
import { prepareInput } from './inputs';
import type {
  ActivationPatchingResult,
  AnalysisResult,
  LogitAttributionResult,
  LogitLensResult,
  Request,
  RunInput,
  TokenInfo,
} from './protocol';

type AnalyseRequest = Extract<Request, { type: 'analyse' }>;

export interface AnalysisContext {
  model: Model;
  tokenizer: Tokenizer | null;
  piece: (id: number) => string;
  post: Post;
  /** True once a newer request superseded this one. */
  stopped: () => boolean;
  yieldToMessages: () => Promise<void>;
}

const TOOL_NAMES = {
  'logit-lens': 'The logit lens',
  'logit-attribution': 'Direct logit attribution',
  'activation-patching': 'Activation patching',
} as const;

/**
 * Attention probabilities one batched patching run may hold per layer (`batch · heads · T²`
 * floats, 64 MB): positions are patched in batches that fit.
 */
const PATCH_ATTENTION_FLOATS = 16_000_000;

export async function analyse(ctx: AnalysisContext, request: AnalyseRequest): Promise<void> {
  const startedAt = performance.now();
  const { tool } = request.analysis;
  const reason = unsupportedReason(ctx.model.config, tool);
  if (reason) throw new EngineError('bad-input', `${TOOL_NAMES[tool]}: ${reason}`);
  const ids = idsOf(ctx, request.input);
  const a = request.analysis;
  const iv = request.interventions ?? NO_INTERVENTIONS;
  const result =
    a.tool === 'logit-lens'
      ? await lens(ctx, ids, iv, positionIn(ids, a.position), a.topK)
      : a.tool === 'logit-attribution'
        ? await attribution(ctx, ids, iv, positionIn(ids, a.position), a.token)
        : await patching(ctx, ids, iv, idsOf(ctx, a.corrupted), a.answer, a.foil);
  ctx.post(
    { type: 'analysis', id: request.id, result, ms: performance.now() - startedAt },
    transferablesOf(result),
  );
}

/**
 * A tensor's values in an array of their own: a backend may hand out views of one buffer (cpu
 * slices), and each array's buffer is moved to the page.
 */
async function ownFloats(x: tf.Tensor): Promise<Float32Array> {
  return Float32Array.from(await x.data());
}

async function ownInts(x: tf.Tensor): Promise<Int32Array> {
  return Int32Array.from(await x.data());
}

function idsOf(ctx: AnalysisContext, input: RunInput): number[] {
  return prepareInput(ctx.model.config, ctx.tokenizer, input).prepared.ids;
}

function tokensOf(ctx: AnalysisContext, ids: ArrayLike<number>): TokenInfo[] {
  return Array.from(ids, (id) => ({ id, piece: ctx.piece(id) }));
}

function positionIn(ids: number[], position: number | undefined): number {
  const at = position ?? ids.length - 1;
  if (!Number.isInteger(at) || at < 0 || at >= ids.length) {
    throw new EngineError('bad-input', `position ${at} is outside the ${ids.length} tokens`);
  }
  return at;
}

async function lens(
  ctx: AnalysisContext,
  ids: number[],
  iv: StreamInterventions,
  position: number,
  topK: number,
): Promise<LogitLensResult> {
  const k = Math.max(1, Math.min(topK, ctx.model.config.vocabSize));
  const l = logitLens(ctx.model, ids, position, k, iv);
  try {
    const [top1, topIds] = await Promise.all([l.top1, l.topIds].map((x) => ownInts(x)));
    const [top1Prob, topProbs] = await Promise.all([l.top1Prob, l.topProbs].map(ownFloats));
    const pieces: Record<number, string> = {};
    for (const id of [...top1, ...topIds]) pieces[id] ??= ctx.piece(id);
    return {
      tool: 'logit-lens',
      interventions: iv,
      tokens: tokensOf(ctx, ids),
      position,
      points: residualPoints(ctx.model.config),
      top1,
      top1Prob,
      k,
      topIds,
      topProbs,
      pieces,
    };
  } finally {
    tf.dispose(Object.values(l));
  }
}

async function attribution(
  ctx: AnalysisContext,
  ids: number[],
  iv: StreamInterventions,
  position: number,
  token: number | undefined,
): Promise<LogitAttributionResult> {
  const cfg = ctx.model.config;
  if (token !== undefined) checkVocabulary([token], cfg, 'the attributed token');
  const a = logitAttribution(ctx.model, ids, position, token ?? null, iv);
  try {
    const [headShares, mlpShares] = await Promise.all([a.heads, a.mlps].map(ownFloats));
    const [id, embedding, biases, logit] = (
      await Promise.all([a.token, a.embedding, a.biases, a.logit].map((t) => t.data()))
    ).map((d) => d[0]);
    return {
      tool: 'logit-attribution',
      interventions: iv,
      tokens: tokensOf(ctx, ids),
      position,
      token: { id, piece: ctx.piece(id) },
      layers: cfg.nLayers,
      heads: cfg.nHeads,
      headShares,
      mlpShares,
      embedding,
      biases,
      logit,
    };
  } finally {
    tf.dispose(Object.values(a));
  }
}

async function patching(
  ctx: AnalysisContext,
  clean: number[],
  iv: StreamInterventions,
  corrupted: number[],
  answer: number | undefined,
  foil: number | undefined,
): Promise<ActivationPatchingResult> {
  const { model } = ctx;
  const cfg = model.config;
  if (clean.length !== corrupted.length) {
    throw new EngineError(
      'bad-input',
      `the corrupted prompt is ${corrupted.length} tokens long and the clean one ${clean.length}: patching swaps activations position by position, so both need the same number of tokens`,
    );
  }
  for (const id of [answer, foil]) if (id !== undefined) checkVocabulary([id], cfg, 'the answer');
  const t = clean.length;
  const runs = patchingRuns(model, clean, corrupted, iv);
  try {
    const cleanLogits = await runs.cleanLogits.data();
    const corruptedLogits = await runs.corruptedLogits.data();
    const chosen = answerAndFoil(cleanLogits, corruptedLogits);
    const a = answer ?? chosen.answer;
    const f = foil ?? (chosen.foil === a ? chosen.answer : chosen.foil);
    const headDiffs = new Float32Array(cfg.nLayers * cfg.nHeads);
    const residualDiffs = new Float32Array(cfg.nLayers * t);
    const batch = Math.max(1, Math.floor(PATCH_ATTENTION_FLOATS / (cfg.nHeads * t * t)));
    const read = async (out: Float32Array, at: number, diffs: tf.Tensor) => {
      try {
        out.set(await diffs.data(), at);
      } finally {
        diffs.dispose();
      }
      if (ctx.stopped()) throw superseded();
      await ctx.yieldToMessages();
    };
    for (let layer = 0; layer < cfg.nLayers; layer++) {
      await read(headDiffs, layer * cfg.nHeads, patchHeads(model, runs, layer, a, f));
      for (let start = 0; start < t; start += batch) {
        const positions = Array.from({ length: Math.min(batch, t - start) }, (_, i) => start + i);
        await read(
          residualDiffs,
          layer * t + start,
          patchResidual(model, runs, layer, positions, a, f),
        );
      }
    }
    const cleanDiff = cleanLogits[a] - cleanLogits[f];
    const corruptedDiff = corruptedLogits[a] - corruptedLogits[f];
    const restored = (diffs: Float32Array) =>
      diffs.map((v) => restoredFraction(v, cleanDiff, corruptedDiff));
    return {
      tool: 'activation-patching',
      interventions: iv,
      tokens: tokensOf(ctx, clean),
      corruptedTokens: tokensOf(ctx, corrupted),
      answer: { id: a, piece: ctx.piece(a) },
      foil: { id: f, piece: ctx.piece(f) },
      clean: cleanDiff,
      corrupted: corruptedDiff,
      layers: cfg.nLayers,
      heads: cfg.nHeads,
      headDiffs,
      residualDiffs,
      headRestored: restored(headDiffs),
      residualRestored: restored(residualDiffs),
    };
  } finally {
    disposePatchingRuns(runs);
  }
}

function transferablesOf(result: AnalysisResult): ArrayBuffer[] {
  const arrays =
    result.tool === 'logit-lens'
      ? [result.top1, result.top1Prob, result.topIds, result.topProbs]
      : result.tool === 'logit-attribution'
        ? [result.headShares, result.mlpShares]
        : [result.headDiffs, result.residualDiffs, result.headRestored, result.residualRestored];
  return arrays.map((a) => a.buffer as ArrayBuffer);
}
