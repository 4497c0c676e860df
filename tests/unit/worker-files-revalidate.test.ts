/**
 * Models loaded by URL (and Hub ids, which are URLs) are cached with the validators their
 * server sent, and revalidated on the next load (issue 12, item 12): a 304, or the same ETag,
 * keeps the cached copy; a new version replaces it; offline, the cached copy is used and a
 * notice says so; and an optional file that is absent is no network requirement.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MODEL_CACHE } from '../../src/workers/modelCache';
import { REVALIDATION_MS } from '../../src/workers/modelFiles';
import type { ModelSource } from '../../src/workers/protocol';
import { randomCheckpoint } from '../../scripts/make-random-gpt2';
import { DECODER_CONFIG, TOKENIZER } from './workerFixtures';
import { FakeServer, Harness, MemoryCacheStorage, ORIGIN } from './workerNetwork';

const WEIGHTS_A = randomCheckpoint(DECODER_CONFIG, 'F32', 1).safetensors;
const WEIGHTS_B = randomCheckpoint(DECODER_CONFIG, 'F32', 2).safetensors;
const MODIFIED = 'Sun, 29 Nov 2026 10:00:00 GMT';
const SOURCE: ModelSource = { kind: 'url', url: `${ORIGIN}m/tiny/` };
const href = (file: string) => `${ORIGIN}m/tiny/${file}`;

/** The tiny model, every file with an ETag but the tokenizer (Last-Modified only); no training.json. */
function serverOf(
  weights = WEIGHTS_A,
  etag = '"a"',
  options: { ignoresConditions?: boolean } = {},
) {
  const server = new FakeServer({
    'm/tiny/config.json': { body: JSON.stringify(DECODER_CONFIG), etag: '"config"' },
    'm/tiny/lab-tokenizer.json': { body: JSON.stringify(TOKENIZER), lastModified: MODIFIED },
    'm/tiny/model.safetensors': { body: weights, etag, chunk: 4096 },
  });
  server.ignoresConditions = options.ignoresConditions ?? false;
  return server;
}

function stored(cache: MemoryCacheStorage, file: string) {
  return cache.caches.get(MODEL_CACHE)!.get(href(file))!;
}

let harness: Harness;
afterEach(() => harness?.engine.dispose());

describe('revalidating cached URL models', () => {
  it('stores the validators, asks with them, and keeps the cached copy on 304', async () => {
    const server = serverOf();
    const cache = new MemoryCacheStorage();
    harness = new Harness(server, { cache });
    expect(await harness.load(SOURCE)).toMatchObject({
      info: { weightsFile: { from: 'network' } },
    });
    expect(stored(cache, 'model.safetensors').headers.get('ETag')).toBe('"a"');
    expect(stored(cache, 'lab-tokenizer.json').headers.get('Last-Modified')).toBe(MODIFIED);

    server.log = [];
    server.pulled.clear();
    const again = await harness.load(SOURCE);
    expect(again).toMatchObject({ type: 'loaded', info: { weightsFile: { from: 'cache' } } });
    expect(again.type === 'loaded' && again.info.notices).toBeUndefined();
    expect(server.log).toEqual([
      { url: href('config.json'), ifNoneMatch: '"config"', ifModifiedSince: null, status: 304 },
      {
        url: href('lab-tokenizer.json'),
        ifNoneMatch: null,
        ifModifiedSince: MODIFIED,
        status: 304,
      },
      // Absent the first time, asked again: it may have been added.
      { url: href('training.json'), ifNoneMatch: null, ifModifiedSince: null, status: 404 },
      { url: href('model.safetensors'), ifNoneMatch: '"a"', ifModifiedSince: null, status: 304 },
    ]);
    expect(server.pulled.size).toBe(0);
  });

  it('replaces the cached copy when the server has a new version (200, another ETag)', async () => {
    const server = serverOf();
    const cache = new MemoryCacheStorage();
    harness = new Harness(server, { cache });
    await harness.load(SOURCE);
    server.files['m/tiny/model.safetensors'] = { body: WEIGHTS_B, etag: '"b"' };
    server.files['m/tiny/training.json'] = JSON.stringify({ steps: [] });

    const replaced = await harness.load(SOURCE);
    expect(replaced).toMatchObject({
      type: 'loaded',
      info: { weightsFile: { from: 'network' }, training: { steps: [] } },
    });
    const entry = stored(cache, 'model.safetensors');
    expect(entry.headers.get('ETag')).toBe('"b"');
    expect(new Uint8Array(entry.body)).toEqual(WEIGHTS_B);
    expect(stored(cache, 'training.json').status).toBe(200);

    // The new version is the cached one now.
    server.log = [];
    expect(await harness.load(SOURCE)).toMatchObject({ info: { weightsFile: { from: 'cache' } } });
    expect(server.log.find((l) => l.url === href('model.safetensors'))).toMatchObject({
      ifNoneMatch: '"b"',
      status: 304,
    });
  });

  it('keeps the cached copy when a server that ignores conditions sends the same ETag', async () => {
    const server = serverOf(WEIGHTS_A, '"a"', { ignoresConditions: true });
    harness = new Harness(server, { cache: new MemoryCacheStorage() });
    await harness.load(SOURCE);
    server.pulled.clear();
    expect(await harness.load(SOURCE)).toMatchObject({ info: { weightsFile: { from: 'cache' } } });
    // Its answer was dropped unread (a chunk at most).
    expect(server.pulled.get('m/tiny/model.safetensors') ?? 0).toBeLessThanOrEqual(4096);
  });

  it('asks another origin without conditional headers (no CORS preflight), by the validator', async () => {
    vi.stubGlobal('location', new URL('http://page.test/app/'));
    try {
      const server = serverOf();
      const cache = new MemoryCacheStorage();
      harness = new Harness(server, { cache });
      await harness.load(SOURCE);
      server.log = [];
      server.pulled.clear();
      expect(await harness.load(SOURCE)).toMatchObject({
        info: { weightsFile: { from: 'cache' } },
      });
      expect(server.log.map((l) => [l.ifNoneMatch, l.ifModifiedSince, l.status])).toEqual([
        [null, null, 200],
        [null, null, 200],
        [null, null, 404],
        [null, null, 200],
      ]);
      expect(server.pulled.get('m/tiny/model.safetensors') ?? 0).toBeLessThanOrEqual(4096);
      // A new version has another validator: it replaces the copy.
      server.files['m/tiny/model.safetensors'] = { body: WEIGHTS_B, etag: '"b"' };
      expect(await harness.load(SOURCE)).toMatchObject({
        info: { weightsFile: { from: 'network' } },
      });
      expect(new Uint8Array(stored(cache, 'model.safetensors').body)).toEqual(WEIGHTS_B);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('offline, loads the cached copies, says so, and asks the server once', async () => {
    const server = serverOf();
    harness = new Harness(server, { cache: new MemoryCacheStorage() });
    await harness.load(SOURCE);
    server.failing = true;
    server.requests = [];
    const offline = await harness.load(SOURCE);
    expect(offline).toMatchObject({ type: 'loaded', info: { weightsFile: { from: 'cache' } } });
    expect(offline.type === 'loaded' && offline.info.notices).toEqual([
      expect.stringMatching(
        /^tiny is loaded from the cache: the server could not be asked for a newer version \(could not fetch config\.json from files\.test: network failure/,
      ),
    ]);
    expect(server.requests).toEqual([href('config.json')]);
    // A server in trouble is the same: the copy is what there is.
    server.failing = false;
    server.files['m/tiny/config.json'] = { body: 'oops', status: 503 };
    const troubled = await harness.load(SOURCE);
    expect(troubled).toMatchObject({ type: 'loaded', info: { weightsFile: { from: 'cache' } } });
    expect(troubled.type === 'loaded' && troubled.info.notices?.[0]).toMatch(/HTTP 503/);
  });
});

describe('a network that hangs', () => {
  it('costs a cached model no more than the revalidation wait', async () => {
    const server = serverOf();
    harness = new Harness(server, { cache: new MemoryCacheStorage() });
    await harness.load(SOURCE);
    server.stalled.add('m/tiny/config.json');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const load = harness.load(SOURCE);
      while (server.requested('config.json') < 2) await new Promise((r) => setImmediate(r));
      vi.advanceTimersByTime(REVALIDATION_MS);
      const loaded = await load;
      expect(loaded).toMatchObject({ type: 'loaded', info: { weightsFile: { from: 'cache' } } });
      expect(loaded.type === 'loaded' && loaded.info.notices).toEqual([
        expect.stringMatching(
          /could not be asked for a newer version \(files\.test did not answer in 10 s\)/,
        ),
      ]);
      // Once it did not answer, the rest of the load asked no more.
      expect(server.requests.slice(-1)).toEqual([href('config.json')]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('an optional file that is absent is no network requirement', () => {
  it('a cached URL model without training.json loads offline', async () => {
    const server = serverOf();
    const cache = new MemoryCacheStorage();
    harness = new Harness(server, { cache });
    await harness.load(SOURCE);
    expect(stored(cache, 'training.json').status).toBe(404);
    server.failing = true;
    expect(await harness.load(SOURCE)).toMatchObject({ type: 'loaded' });
  });

  it('nor one never stored (a shipped model offline: the service worker keeps only what exists)', async () => {
    const server = new FakeServer({
      'models/tiny/config.json': JSON.stringify(DECODER_CONFIG),
      'models/tiny/lab-tokenizer.json': JSON.stringify(TOKENIZER),
      'models/tiny/model.safetensors': WEIGHTS_A,
    });
    server.unreachable.add('models/tiny/training.json');
    harness = new Harness(server);
    const loaded = await harness.load({ kind: 'shipped', name: 'tiny' });
    expect(loaded).toMatchObject({ type: 'loaded', info: { tokenizer: 'chars' } });
    expect(loaded.type === 'loaded' && loaded.info.notices).toEqual([
      expect.stringMatching(
        /^tiny is loaded without training\.json: could not fetch training\.json/,
      ),
    ]);
    expect(loaded.type === 'loaded' && loaded.info.training).toBeUndefined();
    // A required file is one: offline without a copy, the load fails and says why.
    server.unreachable.add('models/tiny/config.json');
    expect(await harness.load({ kind: 'shipped', name: 'tiny' })).toMatchObject({
      type: 'error',
      code: 'fetch-failed',
    });
  });
});
