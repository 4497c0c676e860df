/**
 * The worker's handlers, driven in Node on the cpu backend with tiny random models served by a
 * fake fetch: protocol messages in and out, streaming per layer, transfer lists, latest-wins,
 * cancel, generation with the key/value cache, error codes, and no leaked tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ForwardError } from '../../src/model/model';
import { parseConfig } from '../../src/model/config';
import { CharsTokenizer, type Tokenizer } from '../../src/model/tokenizer';
import { headMetrics } from '../../src/model/analysis/headMetrics';
import { row, type LayerChunk, type Trace, type TraceChunk } from '../../src/model/trace';
import { growTrace } from '../../src/ui/store/runReducer';
import { maxAbsDiff } from './helpers';
import { Engine } from '../../src/workers/engine';
import { errorCodeOf } from '../../src/workers/engineErrors';
import { bucketLength, topK } from '../../src/workers/forwards';
import { prepareInput } from '../../src/workers/inputs';
import type { Interventions, Request, Response, Sampling } from '../../src/workers/protocol';
import {
  ALPHABET,
  DECODER_CHUNKS,
  DECODER_CONFIG,
  fakeFetch,
  PAGE,
  PLAIN,
  SERVER,
  TOKENIZER,
  VOCAB,
} from './workerFixtures';

interface Sent {
  message: Response;
  transfer: Transferable[];
  /** The message object as the engine posted it (its moved buffers now detached). */
  original: Response;
}

class Harness {
  sent: Sent[] = [];
  /** Called after each post, e.g. to send a request in the middle of a run. */
  onPost: ((message: Response) => void) | null = null;
  readonly engine: Engine;
  private nextId = 1;

  constructor(padToBuckets = false, summaryAbove?: number) {
    this.engine = new Engine({
      pageUrl: PAGE,
      fetch: fakeFetch,
      padToBuckets,
      ...(summaryAbove === undefined ? {} : { summaryAbove }),
      post: (message, transfer) => {
        // What the page receives: a structured clone that moves `transfer` (as postMessage does).
        const received = structuredClone(message, { transfer });
        this.sent.push({ message: received, transfer, original: message });
        this.onPost?.(received);
      },
    });
  }

  id(): number {
    return this.nextId++;
  }

  send(request: Request): Promise<void> {
    return this.engine.handle(request);
  }

  async load(name = 'tiny'): Promise<number> {
    const id = this.id();
    await this.send({ type: 'load', id, source: { kind: 'shipped', name } });
    return id;
  }

  runRequest(text: string, interventions = PLAIN, captureQKV = false): Request & { type: 'run' } {
    return { type: 'run', id: this.id(), input: { text }, interventions, captureQKV, topK: 5 };
  }

  of(id: number): Response[] {
    return this.sent.map((s) => s.message).filter((m) => 'id' in m && m.id === id);
  }

  chunks(id: number): (Response & { type: 'chunk' })[] {
    return this.of(id).filter((m): m is Response & { type: 'chunk' } => m.type === 'chunk');
  }

  only<T extends Response['type']>(id: number, type: T): Extract<Response, { type: T }> {
    const found = this.of(id).filter((m) => m.type === type);
    expect(found, `${type} messages for request ${id}`).toHaveLength(1);
    return found[0] as Extract<Response, { type: T }>;
  }
}

let harness: Harness;

afterEach(() => harness?.engine.dispose());

describe('pure helpers', () => {
  it('buckets lengths to powers of two from 16, capped at the context', () => {
    expect([1, 16, 17, 33, 64, 65, 300, 1000].map((n) => bucketLength(n, 1024))).toEqual([
      16, 16, 32, 64, 64, 128, 512, 1024,
    ]);
    expect(bucketLength(20, 24)).toBe(24);
  });

  it('takes the top-k of softmax(logits) in order', () => {
    const logits = new Float32Array([0.5, 3, -1, 2, 3.5]);
    const got = topK(logits, 3, (id) => `t${id}`);
    expect(got.map((p) => p.id)).toEqual([4, 1, 3]);
    const z = [...logits].reduce((s, v) => s + Math.exp(v), 0);
    got.forEach((p) => expect(p.prob).toBeCloseTo(Math.exp(logits[p.id]) / z, 6));
    expect(got[0].piece).toBe('t4');
  });

  it('agrees with sorting the whole vector, ties and k beyond the vocabulary included', () => {
    // Values on a coarse grid, so many tie; the earlier id comes first among equals.
    const logits = Float32Array.from({ length: 5000 }, (_, i) => ((i * 7919) % 61) / 4 - 7);
    const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b);
    const z = logits.reduce((s, v) => s + Math.exp(v), 0);
    const got = topK(logits, 40, String);
    expect(got.map((p) => p.id)).toEqual(order.slice(0, 40));
    got.forEach((p) => expect(p.prob).toBeCloseTo(Math.exp(logits[p.id]) / z, 9));
    expect(topK(logits, 0, String)).toEqual([]);
    expect(topK(new Float32Array([1, 2]), 5, String).map((p) => p.id)).toEqual([1, 0]);
  });
});

describe('special tokens', () => {
  const seq2seq = (start: number | null) =>
    parseConfig({
      ...DECODER_CONFIG,
      architecture: 'encoder-decoder',
      n_encoder_layer: 1,
      decoder_start_token_id: start,
    });
  /** Each character is id 5 (source side) or 6 (target side); Marian-like ones end with 2. */
  const tokenizer = (appendsEos: boolean): Tokenizer => {
    const ids = (text: string, id: number) => [...text].map(() => id).concat(appendsEos ? [2] : []);
    return {
      kind: 'chars',
      vocabSize: VOCAB,
      eosId: 2,
      piece: String,
      decode: () => '',
      encode: (text) => ids(text, 5),
      ...(appendsEos ? { appendsEos, encodeTarget: (text: string) => ids(text, 6) } : {}),
    };
  };

  it("follows the tokenizer's contract: </s> after the source, the start token before the target", () => {
    for (const appendsEos of [false, true]) {
      const { prepared } = prepareInput(seq2seq(1), tokenizer(appendsEos), {
        sourceText: 'abc',
        text: 'de',
      });
      expect(prepared.sourceIds, `appendsEos ${appendsEos}`).toEqual([5, 5, 5, 2]);
      expect(prepared.ids, `appendsEos ${appendsEos}`).toEqual([
        1,
        appendsEos ? 6 : 5,
        appendsEos ? 6 : 5,
      ]);
    }
    // Ids given as ids are used as they are; a decoder-only model's text gets nothing added.
    const given = prepareInput(seq2seq(1), tokenizer(true), { sourceIds: [7], ids: [8] });
    expect(given.prepared).toEqual({ ids: [8], sourceIds: [7] });
    const decoderOnly = prepareInput(parseConfig(DECODER_CONFIG), tokenizer(false), { text: 'ab' });
    expect(decoderOnly.prepared.ids).toEqual([5, 5]);
  });

  it('asks the first word with an empty target, unless the model has no start token', () => {
    const input = { sourceText: 'a', text: ' ' };
    expect(prepareInput(seq2seq(1), tokenizer(false), input).prepared.ids).toEqual([1]);
    expect(() => prepareInput(seq2seq(null), tokenizer(false), input)).toThrow(
      /the target text is empty/,
    );
    expect(() => prepareInput(seq2seq(null), tokenizer(false), { sourceText: 'a' })).toThrow(
      /the target text is empty/,
    );
  });
});

describe('error codes', () => {
  it('tells a corrupt backend from an ordinary failure', () => {
    const corrupt = [
      new WebAssembly.RuntimeError('unreachable'),
      new Error('memory access out of bounds'),
      new Error('remainder by zero'),
      new Error('WebGL Error: CONTEXT_LOST_WEBGL'),
    ];
    for (const e of corrupt) expect(errorCodeOf(e), e.message).toBe('backend-corrupt');
    expect(errorCodeOf(new RangeError('Invalid typed array length: 4'))).toBe('forward-failed');
    expect(errorCodeOf(new ForwardError('bad-token', 'token id 99 is outside'))).toBe('bad-input');
    expect(errorCodeOf(new ForwardError('cancelled', 'superseded'))).toBeNull();
    expect(errorCodeOf(new DOMException('superseded', 'AbortError'))).toBeNull();
  });

  it('reports a trap in the backend as backend-corrupt, so that the client restarts the worker', async () => {
    harness = new Harness();
    await harness.load();
    const trap = vi
      .spyOn(tf.Tensor.prototype, 'data')
      .mockRejectedValueOnce(new WebAssembly.RuntimeError('memory access out of bounds'));
    const run = harness.runRequest('a cat');
    await harness.send(run);
    trap.mockRestore();
    expect(harness.only(run.id, 'error')).toMatchObject({
      code: 'backend-corrupt',
      message: 'memory access out of bounds',
    });
  });
});

describe('loading', () => {
  it('reports byte progress, then the model info', async () => {
    harness = new Harness();
    const id = await harness.load('tiny');
    const progress = harness.of(id).filter((m) => m.type === 'progress');
    const download = progress.filter((m) => m.stage === 'download');
    const size = (SERVER.tiny['model.safetensors'] as Uint8Array).byteLength;
    expect(download.at(-1)).toMatchObject({ loaded: size, total: size });
    expect(progress.some((m) => m.stage === 'weights' && m.loaded === m.total)).toBe(true);
    const { info } = harness.only(id, 'loaded');
    expect(info).toMatchObject({ name: 'tiny', tokenizer: 'chars', training: { steps: 7 } });
    expect(info.config.nLayers).toBe(3);
    // wte 31×16 + wpe 40×16 + 3 blocks + ln_f
    const block =
      2 * 16 + (16 * 48 + 48) + (16 * 16 + 16) + 2 * 16 + (16 * 64 + 64) + (64 * 16 + 16);
    expect(info.parameterCount).toBe(VOCAB * 16 + 40 * 16 + 3 * block + 2 * 16);
    expect(info.weightBytes).toBe(info.parameterCount * 4);
  });

  it('gives clear error codes and keeps the model it had', async () => {
    harness = new Harness();
    await harness.load('tiny');
    const before = harness.runRequest('still here');
    await harness.send(before);
    const cases: [string, string, RegExp][] = [
      ['missing', 'bad-model', /config\.json is missing/],
      ['no-config', 'bad-model', /config\.json is missing/],
      ['corrupt', 'bad-model', /model\.safetensors is truncated/],
      // Everything is read before the swap: a broken file found after the weights costs nothing.
      ['bad-training', 'bad-model', /^training\.json is not valid JSON/],
      ['bad-tokenizer', 'bad-model', /^lab-tokenizer\.json: "type" must be .*"nope"/],
    ];
    for (const [name, code, message] of cases) {
      const id = await harness.load(name);
      expect(harness.only(id, 'error')).toMatchObject({
        code,
        message: expect.stringMatching(message),
      });
    }
    const url = harness.id();
    await harness.send({ type: 'load', id: url, source: { kind: 'url', url: 'broken/x/' } });
    expect(harness.only(url, 'error')).toMatchObject({
      code: 'fetch-failed',
      message: expect.stringMatching(/HTTP 500/),
    });
    const run = harness.runRequest('still here');
    await harness.send(run);
    // Still the first model: its predictions, not those of a model loaded since.
    expect(harness.only(run.id, 'done').predictions).toEqual(
      harness.only(before.id, 'done').predictions,
    );
  });

  it('loads from a URL folder and from picked files', async () => {
    harness = new Harness();
    const url = harness.id();
    await harness.send({
      type: 'load',
      id: url,
      source: { kind: 'url', url: `${PAGE}models/tiny/model.safetensors` },
    });
    expect(harness.only(url, 'loaded').info.name).toBe('tiny');
    const files = Object.entries(SERVER.seq2seq).map(
      ([name, body]) => new File([body as BlobPart], name),
    );
    const picked = harness.id();
    await harness.send({ type: 'load', id: picked, source: { kind: 'files', files } });
    expect(harness.only(picked, 'loaded').info.config.architecture).toBe('encoder-decoder');
  });

  it('a newer load supersedes one in progress: only the newer model is reported', async () => {
    harness = new Harness();
    const first = harness.id();
    const second = harness.id();
    await Promise.all([
      harness.send({ type: 'load', id: first, source: { kind: 'shipped', name: 'tiny' } }),
      harness.send({ type: 'load', id: second, source: { kind: 'url', url: 'models/seq2seq' } }),
    ]);
    expect(harness.of(first).filter((m) => m.type === 'loaded' || m.type === 'error')).toEqual([]);
    expect(harness.only(second, 'loaded').info).toMatchObject({ name: 'seq2seq' });
  });
});

describe('running', () => {
  it('answers with no-model before a model is loaded', async () => {
    harness = new Harness();
    const run = harness.runRequest('hello');
    await harness.send(run);
    expect(harness.only(run.id, 'error').code).toBe('no-model');
  });

  it('streams tokens, one chunk per layer in order, then done', async () => {
    harness = new Harness();
    await harness.load();
    const run = harness.runRequest('the cat', PLAIN, true);
    await harness.send(run);
    const messages = harness.of(run.id).map((m) => m.type);
    expect(messages).toEqual(['tokens', 'chunk', 'chunk', 'chunk', 'chunk', 'chunk', 'done']);
    const tokens = harness.only(run.id, 'tokens');
    expect(tokens.tokens.map((t) => t.piece).join('')).toBe('the cat');
    expect(tokens.truncated).toBe(false);
    const kinds = harness
      .chunks(run.id)
      .map((c) => (c.chunk.type === 'layer' ? c.chunk.layer : c.chunk.type));
    expect(kinds).toEqual(['embedding', 0, 1, 2, 'output']);
    const layer = harness.chunks(run.id)[1].chunk;
    if (layer.type !== 'layer') throw new Error('expected a layer');
    expect(layer.attentions[0].probs.shape).toEqual([2, 7, 7]);
    expect(layer.attentions[0].q?.shape).toEqual([2, 7, 8]);
    const done = harness.only(run.id, 'done');
    const probs = done.predictions.map((p) => p.prob);
    expect(probs).toEqual([...probs].sort((a, b) => b - a));
    expect(probs.reduce((a, b) => a + b)).toBeLessThanOrEqual(1 + 1e-6);
    expect(done.timings.totalMs).toBeGreaterThanOrEqual(done.timings.forwardMs);
  });

  it("moves each chunk's read-back buffer and copies the rest, chunk after chunk", async () => {
    harness = new Harness();
    await harness.load();
    const run = harness.runRequest('abc abc', PLAIN, true);
    await harness.send(run);
    const chunks = harness.sent.filter((s) => s.message.type === 'chunk');
    expect(chunks).toHaveLength(DECODER_CHUNKS);
    for (const sent of chunks) {
      const original = (sent.original as { chunk: TraceChunk }).chunk;
      const received = (sent.message as { chunk: TraceChunk }).chunk;
      expect(sent.transfer).toHaveLength(1);
      // Moved, not copied: the worker's copy is detached, the page's is whole.
      expect(original.hidden.data.byteLength).toBe(0);
      expect(received.hidden.data.length).toBe(7 * 16);
      if (received.type === 'layer') {
        const att = received.attentions[0];
        expect(att.probs.data.length).toBe(2 * 7 * 7);
        expect(att.q?.data.length).toBe(2 * 7 * 8);
        expect(att.mask.data.length).toBe(7 * 7);
      }
    }
  });

  it('rejects empty, unknown and over-long input clearly', async () => {
    harness = new Harness();
    await harness.load();
    for (const text of ['', '   ']) {
      const run = harness.runRequest(text);
      await harness.send(run);
      expect(harness.only(run.id, 'error').code).toBe('empty-input');
    }
    const unknown = harness.runRequest('CAPS');
    await harness.send(unknown);
    expect(harness.only(unknown.id, 'error')).toMatchObject({ code: 'bad-input' });
    const ids: Request = {
      type: 'run',
      id: harness.id(),
      input: { ids: [3, 99] },
      interventions: PLAIN,
      captureQKV: false,
      topK: 3,
    };
    await harness.send(ids);
    expect(harness.only(ids.id, 'error')).toMatchObject({
      code: 'bad-input',
      message: expect.stringMatching(/99/),
    });
    const long = harness.runRequest('a'.repeat(100));
    await harness.send(long);
    const tokens = harness.only(long.id, 'tokens');
    expect(tokens.truncated).toBe(true);
    expect(tokens.tokens).toHaveLength(40);
    expect(harness.only(long.id, 'done').predictions).toHaveLength(5);
  });

  it('answers a run without a trace with the same predictions and no chunks', async () => {
    harness = new Harness();
    for (const name of ['tiny', 'seq2seq']) {
      await harness.load(name);
      const input = { text: 'the cat', sourceText: 'a dog' };
      const traced: Request = {
        type: 'run',
        id: harness.id(),
        input,
        interventions: PLAIN,
        captureQKV: false,
        topK: 4,
      };
      const bare: Request = { ...traced, id: harness.id(), trace: false };
      await harness.send(traced);
      await harness.send(bare);
      expect(harness.chunks(bare.id)).toEqual([]);
      const a = harness.only(traced.id, 'done').predictions;
      const b = harness.only(bare.id, 'done').predictions;
      expect(b.map((p) => p.id)).toEqual(a.map((p) => p.id));
      b.forEach((p, i) => expect(p.prob).toBeCloseTo(a[i].prob, 5));
    }
    const ablated: Request = {
      type: 'run',
      id: harness.id(),
      input: { text: 'x', sourceText: 'y' },
      interventions: { ...PLAIN, usePositions: false },
      captureQKV: false,
      topK: 1,
      trace: false,
    };
    await harness.send(ablated);
    expect(harness.only(ablated.id, 'error').code).toBe('bad-input');
  });

  it('gives the same trace padded to a bucket as unpadded', async () => {
    const traces: TraceChunk[][] = [];
    for (const pad of [false, true]) {
      harness = new Harness(pad);
      await harness.load();
      const run = harness.runRequest('padding test');
      await harness.send(run);
      traces.push(harness.chunks(run.id).map((c) => c.chunk));
      harness.engine.dispose();
    }
    const [plain, padded] = traces;
    for (let i = 0; i < plain.length; i++) {
      const a = plain[i];
      const b = padded[i];
      expect(b.hidden.shape).toEqual(a.hidden.shape);
      a.hidden.data.forEach((v, j) => expect(b.hidden.data[j]).toBeCloseTo(v, 4));
    }
  });
});

describe('latest wins', () => {
  it('a newer run stops the one in flight after its current layer', async () => {
    harness = new Harness();
    await harness.load();
    const first = harness.runRequest('first run');
    const second = harness.runRequest('second run');
    let sentSecond: Promise<void> | null = null;
    harness.onPost = (m) => {
      if (m.type === 'chunk' && m.id === first.id && !sentSecond) sentSecond = harness.send(second);
    };
    const firstDone = harness.send(first);
    await firstDone;
    await sentSecond;
    expect(harness.chunks(first.id)).toHaveLength(1);
    expect(harness.of(first.id).some((m) => m.type === 'done')).toBe(false);
    expect(harness.chunks(second.id)).toHaveLength(DECODER_CHUNKS);
    expect(harness.only(second.id, 'done').predictions).toHaveLength(5);
  });

  it('a run queued behind a newer one never starts', async () => {
    harness = new Harness();
    await harness.load();
    const first = harness.runRequest('one');
    const second = harness.runRequest('two');
    await Promise.all([harness.send(first), harness.send(second)]);
    expect(harness.of(first.id)).toEqual([]);
    expect(harness.only(second.id, 'done')).toBeDefined();
  });

  it('cancel stops the run: no more chunks, no done', async () => {
    harness = new Harness();
    await harness.load();
    const run = harness.runRequest('cancel me');
    harness.onPost = (m) => {
      if (m.type === 'chunk' && m.id === run.id) void harness.send({ type: 'cancel', id: run.id });
    };
    await harness.send(run);
    expect(harness.chunks(run.id)).toHaveLength(1);
    expect(harness.of(run.id).map((m) => m.type)).toEqual(['tokens', 'chunk']);
  });
});

describe('RNN against attention', () => {
  it('posts a row per length at the model width, then done; a newer run stops it', async () => {
    harness = new Harness();
    await harness.load();
    const id = harness.id();
    await harness.send({ type: 'rnn-vs-attention', id, maxN: 16, timeBoundMs: 60_000 });
    const rows = harness.of(id).flatMap((m) => (m.type === 'rnn-row' ? [m.row] : []));
    expect(rows.map((r) => [r.n, r.rnnPath, r.rnnStateBytes])).toEqual([
      [8, 7, DECODER_CONFIG.n_embd * 4],
      [16, 15, DECODER_CONFIG.n_embd * 4],
    ]);
    expect(harness.only(id, 'rnn-done').stop).toBeNull();

    const second = harness.id();
    const run = harness.runRequest('after');
    let runDone: Promise<void> | null = null;
    harness.onPost = (m) => {
      if (m.type === 'rnn-row' && m.id === second) runDone ??= harness.send(run);
    };
    await harness.send({ type: 'rnn-vs-attention', id: second, maxN: 64, timeBoundMs: 60_000 });
    await runDone;
    expect(harness.only(run.id, 'done')).toBeDefined();
    expect(harness.of(second).filter((m) => m.type === 'rnn-row')).toHaveLength(1);
    expect(harness.only(second, 'rnn-done').stop).toBe('stopped by a newer request');
  });
});

describe('generation', () => {
  it('appends the argmax and computes only the new row from the cache', async () => {
    harness = new Harness();
    await harness.load();
    const run = harness.runRequest('ab');
    await harness.send(run);
    let expectedNext = harness.only(run.id, 'done').predictions[0].id;
    const eos = TOKENIZER.special_tokens['</s>'];
    const chars = CharsTokenizer.fromJson(TOKENIZER);
    const prompt = harness.only(run.id, 'tokens').tokens.map((t) => t.id);
    expect(harness.only(run.id, 'done').continuation).toEqual({
      text: '',
      ended: expectedNext === eos,
    });
    const steps: { id: number; tokens: number[] }[] = [];
    for (let step = 0; step < 3; step++) {
      const length = 2 + step;
      const id = harness.id();
      await harness.send({ type: 'generate', id, interventions: PLAIN, topK: 3, captureQKV: true });
      const tokens = harness.only(id, 'tokens').tokens.map((t) => t.id);
      expect(tokens).toHaveLength(length + 1);
      expect(tokens.at(-1)).toBe(expectedNext);
      const chunks = harness.chunks(id);
      // The first step fills the cache with a full run; later steps compute one row.
      const queryStart = step === 0 ? 0 : length;
      expect(chunks.map((c) => c.queryStart)).toEqual(chunks.map(() => queryStart));
      const layer = chunks[1].chunk;
      if (layer.type !== 'layer') throw new Error('expected a layer');
      expect(layer.attentions[0].probs.shape).toEqual(step === 0 ? [2, 3, 3] : [2, 1, length + 1]);
      expectedNext = harness.only(id, 'done').predictions[0].id;
      // What the page writes: the decoded text of the generated tokens, and whether more can come.
      expect(harness.only(id, 'done').continuation).toEqual({
        text: chars.decode(tokens.slice(prompt.length)),
        ended: expectedNext === eos,
      });
      steps.push({ id, tokens });
    }
    // Each cached step predicts what a full run over the same tokens predicts.
    for (const { id, tokens } of steps) {
      const check = harness.id();
      await harness.send({
        type: 'run',
        id: check,
        input: { ids: tokens },
        interventions: PLAIN,
        captureQKV: false,
        topK: 3,
      });
      const full = harness.only(check, 'done').predictions;
      const cached = harness.only(id, 'done').predictions;
      expect(cached.map((p) => p.id)).toEqual(full.map((p) => p.id));
      cached.forEach((p, i) => expect(p.prob).toBeCloseTo(full[i].prob, 5));
    }
  });

  it('reruns in full when the interventions change, and stops at a full context', async () => {
    harness = new Harness();
    await harness.load();
    const run = harness.runRequest('x'.repeat(38));
    await harness.send(run);
    const generate = (interventions: Interventions) => {
      const id = harness.id();
      return harness
        .send({ type: 'generate', id, interventions, topK: 1, captureQKV: false })
        .then(() => id);
    };
    const a = await generate(PLAIN);
    const b = await generate({ ...PLAIN, ablatedHeads: [{ stack: 'decoder', layer: 0, head: 1 }] });
    expect(harness.chunks(b)[0].queryStart).toBe(0);
    expect(harness.chunks(a)[0].queryStart).toBe(0);
    const full = await generate(PLAIN);
    expect(harness.only(full, 'error')).toMatchObject({ code: 'context-full' });
  });

  it('samples with a seed: the same seed and text give the same tokens, temperature → 0 the argmax', async () => {
    harness = new Harness();
    await harness.load();
    /** Five tokens generated after `text` under `sampling`, and each step's top prediction. */
    const generate = async (sampling?: Sampling) => {
      const run = harness.runRequest('the cat');
      await harness.send(run);
      const tokens: number[] = [];
      const argmaxes: number[] = [];
      let best = harness.only(run.id, 'done').predictions[0].id;
      for (let step = 0; step < 5; step++) {
        const id = harness.id();
        await harness.send({
          type: 'generate',
          id,
          interventions: PLAIN,
          topK: 1,
          captureQKV: false,
          ...(sampling ? { sampling } : {}),
        });
        tokens.push(harness.only(id, 'tokens').tokens.at(-1)!.id);
        argmaxes.push(best);
        best = harness.only(id, 'done').predictions[0].id;
      }
      return { tokens, argmaxes };
    };
    const greedy = await generate();
    expect(greedy.tokens).toEqual(greedy.argmaxes);
    const cold = await generate({ temperature: 1e-4, topK: 0, topP: 1, seed: 5 });
    expect(cold.tokens).toEqual(greedy.tokens);
    const hot = { temperature: 3, topK: 0, topP: 1, seed: 11 };
    const a = await generate(hot);
    const b = await generate(hot);
    expect(b.tokens).toEqual(a.tokens);
    // A random model at temperature 3 leaves the argmax somewhere in five steps.
    expect(a.tokens).not.toEqual(a.argmaxes);
  });

  it('answers the tokenizer: explanations, and random tokens repeated', async () => {
    harness = new Harness();
    const early = harness.id();
    await harness.send({
      type: 'tokenizer',
      id: early,
      query: { kind: 'explain-text', text: 'a' },
    });
    expect(harness.only(early, 'tokenizer').answer.kind).toBe('error');
    await harness.load();
    const explain = harness.id();
    await harness.send({ type: 'tokenizer', id: explain, query: { kind: 'explain-token', id: 3 } });
    expect(harness.only(explain, 'tokenizer').answer).toMatchObject({
      kind: 'explain',
      explanation: { scheme: 'pieces', ids: [3] },
    });
    const repeat = harness.id();
    const query = { kind: 'repeat', length: 6, seed: 2 } as const;
    await harness.send({ type: 'tokenizer', id: repeat, query });
    const answer = harness.only(repeat, 'tokenizer').answer;
    if (answer.kind !== 'repeat') throw new Error('expected random tokens');
    expect(answer.ids).toHaveLength(6);
    expect(answer.text).toHaveLength(12);
    expect(answer.text.slice(6)).toBe(answer.text.slice(0, 6));
  });

  it('refuses to generate before a run', async () => {
    harness = new Harness();
    await harness.load();
    const id = harness.id();
    await harness.send({ type: 'generate', id, interventions: PLAIN, topK: 1, captureQKV: false });
    expect(harness.only(id, 'error').code).toBe('bad-input');
  });

  it('runs and extends an encoder–decoder model', async () => {
    harness = new Harness();
    await harness.load('seq2seq');
    const run: Request = {
      type: 'run',
      id: harness.id(),
      input: { sourceText: 'hello', text: 'he' },
      interventions: PLAIN,
      captureQKV: false,
      topK: 2,
    };
    await harness.send(run);
    const tokens = harness.of(run.id).filter((m) => m.type === 'tokens');
    expect(tokens.map((t) => [t.stack, t.tokens.map((x) => x.id)])).toEqual([
      ['encoder', [...'hello'].map((c) => ALPHABET.indexOf(c) + 3).concat(2)],
      ['decoder', [1, ...[...'he'].map((c) => ALPHABET.indexOf(c) + 3)]],
    ]);
    const order = harness
      .chunks(run.id)
      .map((c) => `${c.chunk.stack[0]}:${c.chunk.type === 'layer' ? c.chunk.layer : c.chunk.type}`);
    expect(order).toEqual([
      'e:embedding',
      'e:0',
      'e:1',
      'e:output',
      'd:embedding',
      'd:0',
      'd:1',
      'd:output',
    ]);
    for (let step = 0; step < 2; step++) {
      const id = harness.id();
      await harness.send({
        type: 'generate',
        id,
        interventions: PLAIN,
        topK: 2,
        captureQKV: false,
      });
      expect(harness.only(id, 'done').predictions).toHaveLength(2);
      // Cached steps reuse the encoder's output: only decoder chunks come back.
      if (step === 1)
        expect(harness.chunks(id).every((c) => c.chunk.stack === 'decoder')).toBe(true);
    }
    const empty: Request = {
      type: 'run',
      id: harness.id(),
      input: { sourceText: '', text: 'a' },
      interventions: PLAIN,
      captureQKV: false,
      topK: 2,
    };
    await harness.send(empty);
    expect(harness.only(empty.id, 'error').code).toBe('empty-input');
  });
});

describe('long inputs', () => {
  /** The layer chunks of a request, by layer. */
  const layersOf = (h: Harness, id: number): LayerChunk[] =>
    h.chunks(id).flatMap((c) => (c.chunk.type === 'layer' ? [c.chunk] : []));
  /** Equal length, and every value within `tolerance`. */
  const expectClose = (a: Float32Array, b: Float32Array, tolerance: number) =>
    expect(maxAbsDiff(Array.from(a), Array.from(b))).toBeLessThan(tolerance);
  const exact = (l: LayerChunk) => {
    const { scores, probs, q, k, v, headOutputs, valueNorms } = l.attentions[0];
    return { scores, probs, q, k, v, headOutputs, valueNorms, hidden: l.hidden };
  };

  it('sends summaries but for the layer shown, and traces any layer again to the same numbers', async () => {
    // Every input is long here; the reference engine sends every layer in full.
    harness = new Harness(false, 0);
    const reference = new Harness();
    try {
      await harness.load();
      await reference.load();
      const run = {
        ...harness.runRequest('the cat sat', PLAIN, true),
        detail: { stack: 'decoder' as const, layer: 1 },
      };
      const full = reference.runRequest('the cat sat', PLAIN, true);
      await harness.send(run);
      await reference.send(full);
      const long = layersOf(harness, run.id);
      const ids = harness.only(run.id, 'tokens').tokens.map((t) => t.id);
      const whole = layersOf(reference, full.id);
      expect(long.map((l) => l.attentions.length)).toEqual([0, 1, 0]);
      expect(exact(long[1])).toEqual(exact(whole[1]));
      long.forEach((l, layer) => {
        const [summary] = l.summaries!;
        const att = whole[layer].attentions[0];
        // 11 tokens pool to themselves: the summary is the probabilities, masked cells 0.
        expect(summary.factor).toBe(1);
        expect(summary.pooled.data).toEqual(att.probs.data);
        expect(summary.pooledMask).toEqual(att.mask);
        expect(summary.metrics).toEqual(
          [0, 1].map((h) => headMetrics(row(att.probs, h), 11, 11, att.mask.data, ids)),
        );
      });
      // A summarised layer's chunk moves only its own small buffer: no probabilities ride along.
      const sent = harness.sent.filter(
        (s) => s.message.type === 'chunk' && s.message.chunk.type === 'layer',
      );
      const bytes = (l: LayerChunk) => l.hidden.data.buffer.byteLength;
      const attentionBytes = (l: LayerChunk) =>
        Object.values(exact(l)).reduce((n, m) => n + (m === l.hidden ? 0 : m!.data.byteLength), 0);
      expect(bytes(long[0])).toBe(bytes(whole[0]) - attentionBytes(whole[0]));
      expect(sent[0].transfer).toEqual([long[0].hidden.data.buffer]);

      // Layers 0 and 2 on request: the same numbers as the full run's, as chunks of the run.
      for (const layer of [0, 2]) {
        const before = harness.sent.length;
        await harness.send({
          type: 'detail',
          id: harness.id(),
          run: run.id,
          layer: { stack: 'decoder', layer },
          captureQKV: true,
        });
        const [answer] = harness.sent.slice(before).map((s) => s.message);
        if (answer.type !== 'chunk' || answer.chunk.type !== 'layer') throw new Error('no chunk');
        expect(answer.id).toBe(run.id);
        expect(exact(answer.chunk)).toEqual(exact(whole[layer]));
        // The page keeps the summaries the run sent.
        expect(answer.chunk.summaries).toBeUndefined();
      }

      // Once a newer run has started, a request for the old run's layer gets no answer.
      const newer = harness.runRequest('the dog');
      await harness.send(newer);
      const before = harness.sent.length;
      await harness.send({
        type: 'detail',
        id: harness.id(),
        run: run.id,
        layer: { stack: 'decoder', layer: 0 },
        captureQKV: false,
      });
      expect(harness.sent.length).toBe(before);
    } finally {
      reference.engine.dispose();
    }
  });

  it("generates a long input's tokens with the KV cache: the logits of uncached runs, summaries folded on the page", async () => {
    // Every input is long here; the reference engine runs every sequence whole, without a cache.
    harness = new Harness(false, 0);
    const reference = new Harness();
    try {
      await harness.load();
      await reference.load();
      const weights = tf.memory().numTensors;
      const run = { ...harness.runRequest('abc'), detail: { stack: 'decoder' as const, layer: 1 } };
      await harness.send(run);
      const prompt = harness.only(run.id, 'tokens').tokens.map((t) => t.id);
      // The page's trace, grown by the run reducer from the messages as the page gets them.
      let trace: Trace = {};
      const grow = (id: number) => {
        for (const c of harness.chunks(id)) trace = growTrace(trace, c.chunk, c.queryStart);
      };
      grow(run.id);
      const detail = { stack: 'decoder' as const, layer: 1 };
      for (let step = 0; step < 4; step++) {
        const id = harness.id();
        await harness.send({
          type: 'generate',
          id,
          interventions: PLAIN,
          topK: 3,
          captureQKV: false,
          detail,
        });
        const ids = harness.only(id, 'tokens').tokens.map((t) => t.id);
        const length = prompt.length + step;
        expect(ids).toHaveLength(length + 1);
        // The first step runs the whole sequence into a fresh cache, summarised; the next ones
        // one token through it, their rows in full.
        const chunks = harness.chunks(id);
        expect(chunks.map((c) => c.queryStart)).toEqual(
          chunks.map(() => (step === 0 ? 0 : length)),
        );
        const layers = layersOf(harness, id);
        expect(layers.map((l) => l.attentions[0]?.probs.shape)).toEqual(
          step === 0
            ? [undefined, [2, length + 1, length + 1], undefined]
            : layers.map(() => [2, 1, length + 1]),
        );
        expect(layers.map((l) => l.summaries !== undefined)).toEqual(layers.map(() => step === 0));
        grow(id);

        // The same logits and greedy token as a run of the whole sequence, within 1e-4.
        const check = reference.id();
        await reference.send({
          type: 'run',
          id: check,
          input: { ids },
          interventions: PLAIN,
          captureQKV: false,
          topK: 3,
        });
        const lastRow = (m: Response[]) => {
          const out = m.flatMap((x) =>
            x.type === 'chunk' && x.chunk.type === 'output' ? [x.chunk.logits!] : [],
          )[0];
          return row(out, out.shape[0] - 1);
        };
        const cached = lastRow(harness.of(id));
        const whole = lastRow(reference.of(check));
        expectClose(cached, whole, 1e-4);
        const [ours, theirs] = [harness.only(id, 'done'), reference.only(check, 'done')];
        expect(ours.predictions.map((p) => p.id)).toEqual(theirs.predictions.map((p) => p.id));

        // The page's summaries equal those of the whole sequence's attention, and its layer in
        // full the whole sequence's matrices; any layer traced again too.
        const wholeLayers = layersOf(reference, check);
        trace.decoder!.layers.forEach((l, layer) => {
          const att = wholeLayers[layer].attentions[0];
          const [summary] = l.summaries!;
          expect(summary.pooled.shape).toEqual([2, length + 1, length + 1]);
          expectClose(summary.pooled.data, att.probs.data, 1e-5);
          expect(summary.pooledMask).toEqual(att.mask);
          summary.metrics.forEach((m, h) => {
            const expected = headMetrics(
              row(att.probs, h),
              length + 1,
              length + 1,
              att.mask.data,
              ids,
            );
            for (const [key, value] of Object.entries(m))
              expect(value, key).toBeCloseTo(expected[key as keyof typeof expected], 5);
          });
          expect(l.attentions.length).toBe(layer === 1 ? 1 : 0);
        });
        expectClose(
          trace.decoder!.layers[1].attentions[0].probs.data,
          wholeLayers[1].attentions[0].probs.data,
          1e-5,
        );
        const before = harness.sent.length;
        await harness.send({
          type: 'detail',
          id: harness.id(),
          run: id,
          layer: { stack: 'decoder', layer: 2 },
          captureQKV: false,
        });
        const [answer] = harness.sent.slice(before).map((x) => x.message);
        if (answer.type !== 'chunk' || answer.chunk.type !== 'layer') throw new Error('no chunk');
        expect(answer.id).toBe(id);
        expectClose(
          answer.chunk.attentions[0].probs.data,
          wholeLayers[2].attentions[0].probs.data,
          1e-5,
        );
        expectClose(answer.chunk.hidden.data, wholeLayers[2].hidden.data, 1e-5);
        // Held: per layer the kept input (in pieces: the first step's, then one per step) and the
        // cached keys and values.
        const layerCount = DECODER_CONFIG.n_layer;
        expect(tf.memory().numTensors).toBe(weights + layerCount * (1 + step) + 2 * layerCount);
      }
      expect(harness.sent.filter((x) => x.message.type === 'error')).toEqual([]);
      // A new run drops the session: its cache and the kept inputs.
      await harness.send(harness.runRequest('x'));
      expect(tf.memory().numTensors).toBe(weights + DECODER_CONFIG.n_layer);
    } finally {
      reference.engine.dispose();
    }
  });
});

describe('memory', () => {
  it('keeps tf.memory().numTensors flat over 500 interventions, generations and cancels', async () => {
    harness = new Harness();
    await harness.load();
    const warm = harness.runRequest('warm up');
    await harness.send(warm);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 500; i++) {
      const interventions: Interventions = {
        causalMask: i % 7 !== 0,
        usePositions: i % 5 !== 0,
        ablatedHeads: [{ stack: 'decoder', layer: i % 3, head: i % 2 }],
      };
      if (i % 50 === 25) {
        const id = harness.id();
        await harness.send({
          type: 'generate',
          id,
          interventions: PLAIN,
          topK: 1,
          captureQKV: true,
        });
      } else {
        const run = harness.runRequest('intervene', interventions, i % 2 === 0);
        if (i % 50 === 10) {
          harness.onPost = (m) => {
            if (m.type === 'chunk' && m.id === run.id)
              void harness.send({ type: 'cancel', id: run.id });
          };
        }
        await harness.send(run);
        harness.onPost = null;
      }
    }
    // A finished run holds no tensors; a generate session holds its cache until the next run.
    const last = harness.runRequest('final');
    await harness.send(last);
    expect(tf.memory().numTensors).toBe(before);
    const errors = harness.sent.filter((s) => s.message.type === 'error');
    expect(errors).toEqual([]);
  }, 120_000);
});

it('the chars tokenizer of the fixtures matches the one the tests assume', () => {
  const t = CharsTokenizer.fromJson(TOKENIZER);
  expect(t.vocabSize).toBe(VOCAB);
  expect(t.encode('a')).toEqual([ALPHABET.indexOf('a') + 3]);
});
