/**
 * Loading real checkpoint folders in the worker's engine (Node, wasm backend) from a fake
 * network: Hub ids and URLs, the weights read header first into one buffer, the budget that
 * refuses a model before its weights download, clear messages for missing, truncated, corrupt
 * and unsupported files, the Cache Storage that makes a second load need no download, and the
 * GPT-2 and Marian tokenizers picked from the files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import r50k from 'gpt-tokenizer/encoding/r50k_base';
import { afterEach, describe, expect, it } from 'vitest';
import { marianTokenizer } from '../../src/model/tokenizer';
import { sourceFromText } from '../../src/client/modelSource';
import { formatBytes } from '../../src/model/formatBytes';
import { weightBudget } from '../../src/workers/budget';
import { HUB, modelFiles, WEIGHTS } from '../../src/workers/modelFiles';
import type { ModelInfo, ModelSource } from '../../src/workers/protocol';
import { stageText, memoryText } from '../../src/ui/lib/loading';
import { randomCheckpoint } from '../../scripts/make-random-gpt2';
import { MARIAN_SPM_CONFIG, randomMarianSafetensors } from './marianCheckpoint';
import { DECODER_CONFIG, PLAIN, TOKENIZER } from './workerFixtures';
import { FIXTURES } from './helpers';
import {
  FakeServer,
  Harness,
  MemoryCacheStorage,
  ORIGIN,
  type Body,
  type Served,
} from './workerNetwork';

const SPM = join(import.meta.dirname, 'data', 'spm');

function bytesOf(file: string): Uint8Array {
  return new Uint8Array(readFileSync(file));
}

const tinyWeights = randomCheckpoint(DECODER_CONFIG, 'F32', 1).safetensors;
const TINY = {
  'm/tiny/config.json': JSON.stringify(DECODER_CONFIG),
  'm/tiny/lab-tokenizer.json': JSON.stringify(TOKENIZER),
  'm/tiny/model.safetensors': { body: tinyWeights, chunk: 777 },
};
const url = (folder: string): ModelSource => ({ kind: 'url', url: `${ORIGIN}m/${folder}/` });

let harness: Harness;
afterEach(() => harness?.engine.dispose());

describe('what the user types', () => {
  it('tells Hugging Face ids from URLs', () => {
    expect(sourceFromText(' gpt2 ')).toEqual({ kind: 'hub', id: 'gpt2' });
    expect(sourceFromText('Helsinki-NLP/opus-mt-en-it')).toEqual({
      kind: 'hub',
      id: 'Helsinki-NLP/opus-mt-en-it',
    });
    expect(sourceFromText('distilgpt2@refs/pr/1')).toEqual({
      kind: 'hub',
      id: 'distilgpt2',
      revision: 'refs/pr/1',
    });
    expect(sourceFromText('https://huggingface.co/gpt2-medium')).toEqual({
      kind: 'hub',
      id: 'gpt2-medium',
    });
    expect(sourceFromText('https://huggingface.co/Helsinki-NLP/opus-mt-en-de/tree/v2')).toEqual({
      kind: 'hub',
      id: 'Helsinki-NLP/opus-mt-en-de',
      revision: 'v2',
    });
    expect(sourceFromText('http://127.0.0.1:8000/models/gpt2/')).toEqual({
      kind: 'url',
      url: 'http://127.0.0.1:8000/models/gpt2/',
    });
    for (const bad of ['', 'a b', '../etc', 'a/b/c', 'ftp://x/y']) {
      expect(sourceFromText(bad), bad).toBeNull();
    }
  });

  it('resolves a Hub id to /resolve/REVISION/ files', async () => {
    const server = new FakeServer({});
    const files = modelFiles(
      { kind: 'hub', id: 'Helsinki-NLP/opus-mt-en-it' },
      ORIGIN,
      server.fetch,
      new AbortController().signal,
      null,
    );
    expect(files.name).toBe('Helsinki-NLP/opus-mt-en-it');
    await expect(files.read('config.json', true)).rejects.toThrow(
      `config.json is missing: ${HUB}Helsinki-NLP/opus-mt-en-it/resolve/main/config.json answered 404`,
    );
    const pr = modelFiles(
      { kind: 'hub', id: 'gpt2', revision: 'refs/pr/7' },
      ORIGIN,
      server.fetch,
      new AbortController().signal,
      null,
    );
    await pr.read('config.json');
    expect(server.requests.at(-1)).toBe(`${HUB}gpt2/resolve/refs%2Fpr%2F7/config.json`);
  });
});

describe('sizes', () => {
  it('allows a quarter of the device memory for float32 weights, at most 2 GiB', () => {
    expect(weightBudget(16)).toBe(2 * 2 ** 30);
    expect(weightBudget(8)).toBe(2 * 2 ** 30);
    expect(weightBudget(4)).toBe(2 ** 30);
    expect(weightBudget(undefined)).toBe(2 * 2 ** 30);
    expect([999, 12_345, 548_105_171, 3_250_000_000].map(formatBytes)).toEqual([
      '999 B',
      '12 kB',
      '548.1 MB',
      '3.25 GB',
    ]);
  });

  it('says how far a stage is and how fast it goes, and what a model takes', () => {
    expect(stageText({ loaded: 5e6, total: 20e6, startedAt: 1000, at: 3000 })).toBe(
      '5.0 MB / 20.0 MB · 2.5 MB/s',
    );
    expect(stageText({ loaded: 900, total: 0, startedAt: 1000, at: 1000 })).toBe('900 B');
    const gpt2: ModelInfo = {
      name: 'gpt2',
      config: undefined as never,
      tokenizer: 'gpt2',
      parameterCount: 124_439_808,
      weightBytes: 497_759_232,
      halfWeights: 0,
      weightsFile: { bytes: 548_105_171, from: 'cache' },
      memory: { tensorBytes: 497_759_232, gpuBytes: 498_000_000 },
      loadMs: 3210,
    };
    expect(memoryText(gpt2)).toBe(
      'weights 497.8 MB (float32) · tf memory 497.8 MB, GPU 498.0 MB · read from cache 548.1 MB in 3.2 s',
    );
    // On wasm, a float16 checkpoint's matrices in 16 bits (model/halfWeights.ts)
    expect(
      memoryText({
        ...gpt2,
        weightBytes: 250_695_168,
        halfWeights: 85,
        weightsFile: { bytes: 248_892_744, from: 'network' },
        memory: { tensorBytes: 250_695_168, gpuBytes: null },
        loadMs: 3500,
      }),
    ).toBe(
      'weights 250.7 MB (float32, 85 matrices in 16 bits) · tf memory 250.7 MB · downloaded 248.9 MB in 3.5 s',
    );
  });
});

describe('reading the weights', () => {
  it('streams them into one buffer of the size the header gives, with byte progress', async () => {
    const server = new FakeServer({
      ...TINY,
      // No Content-Length: the header alone sizes the buffer.
      'm/chunked/config.json': JSON.stringify(DECODER_CONFIG),
      'm/chunked/model.safetensors': { body: tinyWeights, chunk: 333, length: null },
    });
    const files = modelFiles(
      url('chunked'),
      ORIGIN,
      server.fetch,
      new AbortController().signal,
      null,
    );
    const stages: [string, number, number][] = [];
    const weights = await files.readWeights(WEIGHTS, 1e9, (s, l, t) => stages.push([s, l, t]));
    expect(weights.bytes).toEqual(tinyWeights);
    expect(weights.bytes.buffer.byteLength).toBe(tinyWeights.byteLength);
    expect(weights.from).toBe('network');
    expect(stages.at(-1)).toEqual(['download', tinyWeights.byteLength, tinyWeights.byteLength]);
    // Once the header is in, the total is known.
    expect(stages.filter(([, , t]) => t === tinyWeights.byteLength).length).toBeGreaterThan(10);

    harness = new Harness(server);
    const loaded = await harness.load(url('tiny'));
    expect(loaded).toMatchObject({
      type: 'loaded',
      info: {
        name: 'tiny',
        tokenizer: 'chars',
        weightsFile: { bytes: tinyWeights.byteLength, from: 'network' },
        memory: { gpuBytes: null },
      },
    });
    if (loaded.type !== 'loaded') return;
    expect(loaded.info.memory.tensorBytes).toBe(loaded.info.weightBytes);
    expect(loaded.info.loadMs).toBeGreaterThan(0);
  });

  it('refuses a model over the budget before downloading its weights', async () => {
    const f16 = randomCheckpoint(DECODER_CONFIG, 'F16', 1).safetensors;
    const server = new FakeServer({
      // A file announced bigger than the budget: refused on its Content-Length alone.
      'm/huge/config.json': JSON.stringify(DECODER_CONFIG),
      'm/huge/model.safetensors': { body: tinyWeights, length: 3_250_000_000, hang: true },
      // Half-precision: the file fits, its float32 weights (twice the size) do not.
      'm/half/config.json': JSON.stringify(DECODER_CONFIG),
      'm/half/model.safetensors': { body: f16, chunk: 256 },
    });
    const budget = Math.round(f16.byteLength * 1.5);
    harness = new Harness(server, { weightBudget: budget });
    const huge = await harness.load(url('huge'));
    expect(huge).toMatchObject({
      type: 'error',
      code: 'too-large',
      message: expect.stringMatching(
        /^model\.safetensors is 3\.25 GB, more than this device's budget of/,
      ),
    });
    expect(server.pulled.get('m/huge/model.safetensors') ?? 0).toBe(0);
    const half = await harness.load(url('half'));
    expect(half).toMatchObject({
      type: 'error',
      code: 'too-large',
      message: expect.stringMatching(/^the model needs .* as float32 \(0 M parameters/),
    });
    // Only as far as the header (and the chunk it ends in).
    const headerEnd = 8 + Number(new DataView(f16.buffer).getBigUint64(0, true));
    expect(server.pulled.get('m/half/model.safetensors')).toBeLessThan(headerEnd + 256 + 1);
    expect(headerEnd + 256).toBeLessThan(f16.byteLength / 2);

    // With the cache, the weights stream to disk through the same checks: refused there,
    // the download stops at once (the huge one never ends by itself), and nothing is stored.
    harness.engine.dispose();
    const cache = new MemoryCacheStorage();
    harness = new Harness(server, { cache, weightBudget: budget });
    expect(await harness.load(url('huge'))).toMatchObject({ code: 'too-large' });
    expect(await harness.load(url('half'))).toMatchObject({ code: 'too-large' });
    expect(cache.entries().filter((e) => e.endsWith('.safetensors'))).toEqual([]);

    // Within the budget it loads.
    harness.engine.dispose();
    harness = new Harness(server, { weightBudget: f16.byteLength * 3 });
    expect(await harness.load(url('half'))).toMatchObject({ type: 'loaded' });
  });

  it('names the file and the problem: missing, truncated, not safetensors, HTTP errors', async () => {
    const cut = tinyWeights.slice(0, Math.floor(tinyWeights.byteLength / 2));
    const folder = (weights: Body | Served) => ({
      config: JSON.stringify(DECODER_CONFIG),
      weights,
    });
    const folders = {
      truncated: folder(cut),
      // Announced at full length, the connection drops halfway.
      dropped: folder({ body: cut, length: tinyWeights.byteLength }),
      html: folder('<!doctype html><html><body>Not here</body></html>'),
      'no-weights': { config: JSON.stringify(DECODER_CONFIG) },
      private: folder({ body: 'Unauthorized', status: 401 }),
      broken: folder({ body: 'oops', status: 500 }),
    };
    const files: Record<string, Body | Served> = {};
    for (const [name, f] of Object.entries(folders)) {
      files[`m/${name}/config.json`] = f.config;
      if ('weights' in f) files[`m/${name}/model.safetensors`] = f.weights;
    }
    harness = new Harness(new FakeServer(files));
    const size = tinyWeights.byteLength;
    const expected: [string, string, RegExp][] = [
      [
        'truncated',
        'bad-model',
        new RegExp(
          `^model\\.safetensors is ${cut.byteLength} bytes but its header describes ${size}: the file is truncated`,
        ),
      ],
      [
        'dropped',
        'bad-model',
        new RegExp(`^model\\.safetensors is truncated: ${cut.byteLength} of the ${size} bytes`),
      ],
      ['html', 'bad-model', /^model\.safetensors is truncated or corrupt: its header claims/],
      [
        'no-weights',
        'bad-model',
        /^model\.safetensors is missing: http:\/\/files\.test\/m\/no-weights\/model\.safetensors answered 404/,
      ],
      [
        'private',
        'fetch-failed',
        /answered HTTP 401: the repository does not exist, or is private or gated/,
      ],
      ['broken', 'fetch-failed', /m\/broken\/model\.safetensors failed: HTTP 500/],
      [
        'nowhere',
        'bad-model',
        /^config\.json is missing: http:\/\/files\.test\/m\/nowhere\/config\.json answered 404/,
      ],
    ];
    for (const [name, code, message] of expected) {
      expect(await harness.load(url(name)), name).toMatchObject({
        type: 'error',
        code,
        message: expect.stringMatching(message),
      });
    }
  });

  it('says network failure when the server cannot be reached', async () => {
    const server = new FakeServer(TINY);
    server.failing = true;
    harness = new Harness(server);
    expect(await harness.load(url('tiny'))).toMatchObject({
      type: 'error',
      code: 'fetch-failed',
      message: expect.stringMatching(
        /^could not fetch config\.json from files\.test: network failure \(fetch failed\)/,
      ),
    });
  });

  it('refuses an unsupported model_type after one small request', async () => {
    const server = new FakeServer({
      'm/mistral/config.json': JSON.stringify({ model_type: 'mistral', hidden_size: 768 }),
      'm/mistral/model.safetensors': tinyWeights,
    });
    harness = new Harness(server);
    expect(await harness.load(url('mistral'))).toMatchObject({
      type: 'error',
      code: 'unsupported-model',
      message: expect.stringMatching(
        /unsupported model_type "mistral": Attention Lab runs GPT2LMHeadModel, .*BertForMaskedLM/,
      ),
    });
    expect(server.requests).toEqual([`${ORIGIN}m/mistral/config.json`]);
  });

  it('reads picked files the same way', async () => {
    harness = new Harness(new FakeServer({}));
    const picked = [
      new File([JSON.stringify(DECODER_CONFIG)], 'config.json'),
      new File([tinyWeights as BlobPart], 'tiny.safetensors'),
    ];
    const loaded = await harness.load({ kind: 'files', files: picked });
    expect(loaded).toMatchObject({
      type: 'loaded',
      info: { name: 'tiny', tokenizer: 'ids', weightsFile: { from: 'file' } },
    });
    expect(harness.of('progress').some((p) => p.stage === 'file')).toBe(true);
    const noConfig = await harness.load({ kind: 'files', files: picked.slice(1) });
    expect(noConfig).toMatchObject({
      code: 'bad-model',
      message: 'config.json is missing: pick it together with the others',
    });
  });
});

describe('the model cache', () => {
  it('answers a second load from the cache, and forgets on "clear"', async () => {
    const server = new FakeServer(TINY);
    const cache = new MemoryCacheStorage();
    harness = new Harness(server, { cache });
    expect(await harness.load(url('tiny'))).toMatchObject({
      info: { weightsFile: { from: 'network' } },
    });
    const files = ['config.json', 'lab-tokenizer.json', 'training.json', 'model.safetensors'];
    expect(server.requests).toEqual(files.map((f) => `${ORIGIN}m/tiny/${f}`));
    // training.json does not exist: remembered as such (a marker, not counted as a file).
    expect(cache.entries()).toHaveLength(4);
    const size =
      JSON.stringify(DECODER_CONFIG).length +
      JSON.stringify(TOKENIZER).length +
      tinyWeights.byteLength;
    expect(harness.of('cache').at(-1)!.usage).toEqual({ bytes: size, files: 3 });
    // Downloaded into the cache, then read from there into the one buffer.
    const stages = harness.of('progress').map((p) => p.stage);
    expect(stages.indexOf('cache')).toBeGreaterThan(stages.lastIndexOf('download'));

    server.requests = [];
    const again = await harness.load(url('tiny'));
    expect(again).toMatchObject({ type: 'loaded', info: { weightsFile: { from: 'cache' } } });
    // This server sends no validators: its files are taken as stored. Only the absent file is
    // asked for again (it may have been added since; see worker-files-revalidate.test.ts).
    expect(server.requests).toEqual([`${ORIGIN}m/tiny/training.json`]);
    expect(harness.of('progress', again.id).some((p) => p.stage === 'cache')).toBe(true);

    await harness.send({ type: 'model-cache', id: harness.id(), clear: true });
    expect(harness.of('cache').at(-1)!.usage).toEqual({ bytes: 0, files: 0 });
    await harness.load(url('tiny'));
    expect(server.requested('model.safetensors')).toBe(1);
  });

  it('keeps nothing of a load that failed', async () => {
    const server = new FakeServer({
      'm/cut/config.json': JSON.stringify(DECODER_CONFIG),
      'm/cut/model.safetensors': tinyWeights.slice(0, 3000),
      'm/dropped/config.json': JSON.stringify(DECODER_CONFIG),
      'm/dropped/model.safetensors': {
        body: tinyWeights.slice(0, 20_000),
        length: tinyWeights.byteLength,
      },
    });
    const cache = new MemoryCacheStorage();
    harness = new Harness(server, { cache });
    expect(await harness.load(url('cut'))).toMatchObject({ type: 'error', code: 'bad-model' });
    expect(await harness.load(url('dropped'))).toMatchObject({
      code: 'bad-model',
      message: `model.safetensors is truncated: 20000 of the ${tinyWeights.byteLength} bytes its header describes arrived`,
    });
    expect(cache.entries()).toEqual([]);
    // Fixed on the server: the next load sees the fix.
    server.files['m/cut/model.safetensors'] = tinyWeights;
    expect(await harness.load(url('cut'))).toMatchObject({ type: 'loaded' });
  });

  it('is not used for shipped models or picked files', async () => {
    const cache = new MemoryCacheStorage();
    const server = new FakeServer({
      'models/tiny/config.json': JSON.stringify(DECODER_CONFIG),
      'models/tiny/model.safetensors': tinyWeights,
    });
    harness = new Harness(server, { cache });
    expect(await harness.load({ kind: 'shipped', name: 'tiny' })).toMatchObject({ type: 'loaded' });
    expect(cache.entries()).toEqual([]);
    expect(harness.of('cache')).toEqual([]);
  });
});

describe('tokenizers from the checkpoint folder', () => {
  it('runs a GPT-2-family model with the 50,257-token vocabulary on r50k, without tokenizer.json', async () => {
    const config = {
      model_type: 'gpt2',
      vocab_size: 50257,
      n_positions: 32,
      n_embd: 8,
      n_layer: 1,
      n_head: 2,
      eos_token_id: 50256,
    };
    const server = new FakeServer({
      'm/gpt2/config.json': JSON.stringify(config),
      'm/gpt2/model.safetensors': randomCheckpoint(config, 'F32', 4).safetensors,
      // The Hub's gpt2 folders hold Hugging Face's tokenizer.json, which is not ours.
      'm/gpt2/tokenizer.json': JSON.stringify({ version: '1.0', model: { type: 'BPE' } }),
    });
    harness = new Harness(server);
    expect(await harness.load(url('gpt2'))).toMatchObject({ info: { tokenizer: 'gpt2' } });
    expect(server.requested('tokenizer.json')).toBe(0);
    const text = 'Attention is all you need, said the transformer.';
    const id = harness.id();
    await harness.send({
      type: 'run',
      id,
      input: { text },
      interventions: PLAIN,
      captureQKV: false,
      topK: 3,
    });
    const [tokens] = harness.of('tokens', id);
    expect(tokens.tokens.map((t) => t.id)).toEqual(r50k.encode(text));
    expect(tokens.tokens.map((t) => t.piece).join('')).toBe(text);
    expect(harness.of('done', id)).toHaveLength(1);
  });

  it("builds Marian's tokenizer from source.spm, target.spm and vocab.json", async () => {
    const files = {
      'config.json': JSON.stringify(MARIAN_SPM_CONFIG),
      'model.safetensors': randomMarianSafetensors(MARIAN_SPM_CONFIG),
      'source.spm': bytesOf(join(SPM, 'source.spm')),
      'target.spm': bytesOf(join(SPM, 'target.spm')),
      'vocab.json': readFileSync(join(SPM, 'vocab.json'), 'utf8'),
    };
    const served = Object.fromEntries(Object.entries(files).map(([f, b]) => [`m/opus/${f}`, b]));
    const partial = { ...served };
    delete partial['m/opus/target.spm'];
    harness = new Harness(new FakeServer({ ...served, ...rename(partial, 'opus', 'partial') }));
    expect(await harness.load(url('partial'))).toMatchObject({
      code: 'bad-model',
      message: 'a Marian tokenizer needs source.spm, target.spm, vocab.json; target.spm is missing',
    });
    expect(await harness.load(url('opus'))).toMatchObject({ info: { tokenizer: 'marian' } });

    const reference = marianTokenizer({
      sourceSpm: files['source.spm'],
      targetSpm: files['target.spm'],
      vocab: JSON.parse(files['vocab.json']),
    });
    const sourceText = 'Now is the winter of our discontent';
    const text = 'Made glorious summer';
    const id = harness.id();
    await harness.send({
      type: 'run',
      id,
      input: { sourceText, text },
      interventions: PLAIN,
      captureQKV: false,
      topK: 3,
    });
    const byStack = Object.fromEntries(
      harness.of('tokens', id).map((t) => [t.stack, t.tokens.map((x) => x.id)]),
    );
    // One </s> (id 0) after the source; the decoder starts from decoder_start_token_id (<pad>).
    expect(byStack.encoder).toEqual(reference.encode(sourceText));
    expect(byStack.encoder.at(-1)).toBe(0);
    expect(byStack.encoder.filter((t) => t === 0)).toHaveLength(1);
    expect(byStack.decoder).toEqual([1221, ...reference.encodeTarget(text).slice(0, -1)]);
    // The target side has its own pieces: encoded with source.spm it would differ.
    expect(reference.encodeTarget(text)).not.toEqual(reference.encode(text));

    // Step-through generation appends the greedy token and watches cross-attention grow.
    const done = harness.of('done', id)[0];
    const step = harness.id();
    await harness.send({
      type: 'generate',
      id: step,
      interventions: PLAIN,
      captureQKV: false,
      topK: 3,
    });
    const after = harness.of('tokens', step)[0].tokens.map((t) => t.id);
    expect(after).toEqual([...byStack.decoder, done.predictions[0].id]);
    const cross = harness
      .of('chunk', step)
      .map((c) => c.chunk)
      .find((c) => c.type === 'layer' && c.stack === 'decoder');
    expect(cross?.type === 'layer' && cross.attentions[1].kind).toBe('cross');
  });
});

function rename(files: Record<string, Body>, from: string, to: string): Record<string, Body> {
  return Object.fromEntries(
    Object.entries(files).map(([path, body]) => [path.replace(`m/${from}/`, `m/${to}/`), body]),
  );
}

describe('the shared fixtures through the engine', () => {
  it('loads gpt2-tiny-a and marian-tiny-a from URL folders (ids, no tokenizer files)', async () => {
    const served: Record<string, Body> = {};
    for (const name of ['gpt2-tiny-a', 'marian-tiny-a']) {
      for (const f of ['config.json', 'model.safetensors']) {
        served[`m/${name}/${f}`] = bytesOf(join(FIXTURES, name, f));
      }
    }
    harness = new Harness(new FakeServer(served));
    expect(await harness.load(url('gpt2-tiny-a'))).toMatchObject({ info: { tokenizer: 'ids' } });
    expect(await harness.load(url('marian-tiny-a'))).toMatchObject({ info: { tokenizer: 'ids' } });
  });
});
