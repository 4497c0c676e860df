/**
 * The worker's `analyse` requests, driven in Node on the cpu backend with the tiny random models
 * of workerFixtures.ts: each tool's answer and its transferred arrays, the errors (different
 * lengths, an encoder–decoder model, a position outside the text), a newer request stopping an
 * analysis in flight, and no leaked tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/workers/engine';
import type {
  ActivationPatchingResult,
  AnalysisRequest,
  AnalysisResult,
  LogitAttributionResult,
  LogitLensResult,
  Request,
  Response,
} from '../../src/workers/protocol';
import { DECODER_CONFIG, fakeFetch, PAGE, PLAIN } from './workerFixtures';

let sent: { message: Response; transfer: Transferable[] }[];
let engine: Engine;
let nextId: number;
/** Called after each post (to send a request in the middle of an analysis). */
let onPost: ((m: Response) => void) | null;

beforeEach(async () => {
  sent = [];
  nextId = 1;
  onPost = null;
  engine = new Engine({
    pageUrl: PAGE,
    fetch: fakeFetch,
    padToBuckets: false,
    post: (message, transfer) => {
      const received = structuredClone(message, { transfer });
      sent.push({ message: received, transfer });
      onPost?.(received);
    },
  });
  await load('tiny');
});

afterEach(() => engine.dispose());

async function load(name: string) {
  await engine.handle({ type: 'load', id: nextId++, source: { kind: 'shipped', name } });
}

function request(analysis: AnalysisRequest, text = 'the cat sat'): Request & { type: 'analyse' } {
  return { type: 'analyse', id: nextId++, input: { text }, analysis };
}

function answerTo(id: number): Response | undefined {
  return sent.map((s) => s.message).find((m) => 'id' in m && m.id === id);
}

async function result<T extends AnalysisResult>(r: Request & { type: 'analyse' }): Promise<T> {
  await engine.handle(r);
  const m = answerTo(r.id);
  if (m?.type !== 'analysis') throw new Error(`no analysis: ${JSON.stringify(m)}`);
  return m.result as T;
}

const LAYERS = DECODER_CONFIG.n_layer;
const HEADS = DECODER_CONFIG.n_head;

describe('analyse', () => {
  it('answers the logit lens with a points × positions grid and moves its arrays', async () => {
    const r = request({ tool: 'logit-lens', topK: 3 });
    const lens = await result<LogitLensResult>(r);
    const t = 'the cat sat'.length;
    expect(lens.points).toEqual([
      'embeddings',
      '0 attn',
      '0 mlp',
      '1 attn',
      '1 mlp',
      '2 attn',
      '2 mlp',
    ]);
    expect(lens.position).toBe(t - 1);
    expect(lens.top1.length).toBe(lens.points.length * t);
    expect(lens.topProbs.length).toBe(lens.points.length * 3);
    for (const id of lens.top1) expect(lens.pieces[id]).toBeDefined();
    // The lens's last point is the model's own prediction: the same as a run's top-1.
    const run = {
      type: 'run' as const,
      id: nextId++,
      input: { text: 'the cat sat' },
      interventions: PLAIN,
      captureQKV: false,
      topK: 1,
    };
    await engine.handle(run);
    const done = sent.map((s) => s.message).find((m) => m.type === 'done' && m.id === run.id);
    expect(done?.type === 'done' && done.predictions[0].id).toBe(
      lens.topIds[(lens.points.length - 1) * 3],
    );
    const transfer = sent.find((s) => s.message.type === 'analysis')!.transfer;
    expect(transfer).toHaveLength(4);
  });

  it('answers the attribution with shares that sum to the logit', async () => {
    const a = await result<LogitAttributionResult>(
      request({ tool: 'logit-attribution', position: 4, token: 7 }),
    );
    expect(a.token.id).toBe(7);
    expect(a.headShares.length).toBe(LAYERS * HEADS);
    expect(a.mlpShares.length).toBe(LAYERS);
    const total = [...a.headShares, ...a.mlpShares, a.embedding, a.biases].reduce(
      (s, v) => s + v,
      0,
    );
    expect(Math.abs(total - a.logit) / Math.max(1, Math.abs(a.logit))).toBeLessThan(1e-4);
  });

  it('reads the model under the request’s interventions and says which', async () => {
    const head = { stack: 'decoder' as const, layer: 1, head: 1 };
    const interventions = { causalMask: true, usePositions: true, ablatedHeads: [head] };
    const ask = { tool: 'logit-attribution', position: 4, token: 7 } as const;
    const plain = await result<LogitAttributionResult>(request(ask));
    expect(plain.interventions).toEqual({ ...interventions, ablatedHeads: [] });
    const a = await result<LogitAttributionResult>({ ...request(ask), interventions });
    expect(a.interventions).toEqual(interventions);
    expect(a.headShares[head.layer * HEADS + head.head]).toBe(0);
    expect(plain.headShares[head.layer * HEADS + head.head]).not.toBe(0);
    // The logit of the ablated model: the traced run under the same ablation gives it.
    const run = nextId++;
    await engine.handle({
      type: 'run',
      id: run,
      input: { text: 'the cat sat' },
      interventions,
      captureQKV: false,
      topK: 1,
    });
    const output = sent
      .map((s) => s.message)
      .find((m) => m.type === 'chunk' && m.id === run && m.chunk.type === 'output');
    const logits =
      output?.type === 'chunk' && output.chunk.type === 'output' && output.chunk.logits;
    if (!logits) throw new Error('no logits');
    const traced = logits.data[4 * logits.shape[1] + 7];
    expect(Math.abs(a.logit - traced)).toBeLessThan(1e-4);
    expect(Math.abs(plain.logit - traced)).toBeGreaterThan(1e-4);
  });

  it('answers patching with layers × heads and layers × positions maps; a prompt patched into itself restores 1', async () => {
    const p = await result<ActivationPatchingResult>(
      request({ tool: 'activation-patching', corrupted: { text: 'the cat sat' } }),
    );
    expect(p.headRestored.length).toBe(LAYERS * HEADS);
    expect(p.residualRestored.length).toBe(LAYERS * 'the cat sat'.length);
    expect(new Set(p.headRestored)).toEqual(new Set([1]));
    expect(new Set(p.residualRestored)).toEqual(new Set([1]));
    expect(p.foil.id).not.toBe(p.answer.id);
    const q = await result<ActivationPatchingResult>(
      request({ tool: 'activation-patching', corrupted: { text: 'the bat sat' } }),
    );
    // Position 4 is where the prompts differ: the embeddings patched there restore everything.
    expect(q.residualRestored[4]).toBeCloseTo(1, 4);
    expect(q.residualRestored[0]).toBeCloseTo(0, 4);
  });

  it('refuses prompts of different lengths, a position outside the text and encoder–decoder models', async () => {
    const cases: [AnalysisRequest, RegExp][] = [
      [{ tool: 'activation-patching', corrupted: { text: 'a dog' } }, /same number of tokens/],
      [{ tool: 'logit-lens', position: 40, topK: 1 }, /outside the 11 tokens/],
    ];
    for (const [analysis, message] of cases) {
      const r = request(analysis);
      await engine.handle(r);
      const m = answerTo(r.id);
      expect(m?.type === 'error' && m.code).toBe('bad-input');
      expect(m?.type === 'error' && m.message).toMatch(message);
    }
    await load('seq2seq');
    const r = request({ tool: 'logit-lens', topK: 1 });
    r.input = { sourceText: 'abc', text: 'ab' };
    await engine.handle(r);
    const m = answerTo(r.id);
    expect(m?.type === 'error' && m.message).toMatch(/logit lens: not for encoder–decoder/);
  });

  it('stops an analysis when a run arrives, and leaks no tensors', async () => {
    const warm = request({ tool: 'logit-lens', topK: 2 });
    await engine.handle(warm);
    const before = tf.memory().numTensors;
    const patch = request({ tool: 'activation-patching', corrupted: { text: 'the dog sat' } });
    const run = {
      type: 'run' as const,
      id: nextId++,
      input: { text: 'abc' },
      interventions: PLAIN,
      captureQKV: false,
      topK: 1,
    };
    // A run sent behind the analysis supersedes it: nothing is posted for it.
    const started = engine.handle(patch);
    const sentRun = engine.handle(run);
    await Promise.all([started, sentRun]);
    expect(answerTo(patch.id)).toBeUndefined();
    for (const analysis of [
      { tool: 'logit-lens', topK: 2 },
      { tool: 'logit-attribution' },
      { tool: 'activation-patching', corrupted: { text: 'the dog sat' } },
    ] as AnalysisRequest[]) {
      await engine.handle(request(analysis));
    }
    expect(sent.filter((s) => s.message.type === 'error')).toEqual([]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
