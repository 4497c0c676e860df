/**
 * The weight files a checkpoint folder may have, through the engine with a fake fetch: sharded
 * safetensors (gpt2-tiny-a split in two here) and `pytorch_model.bin` load to the same model as
 * `model.safetensors`; what cannot be loaded fails clearly and keeps the model on screen.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { parseSafetensors, readFloat32, writeSafetensors } from '../../src/model/safetensors';
import { Engine } from '../../src/workers/engine';
import type { Response } from '../../src/workers/protocol';
import { PAGE, PLAIN } from './workerFixtures';

const FIXTURES = new URL('../fixtures/', import.meta.url);
const read = (path: string) => new Uint8Array(readFileSync(new URL(path, FIXTURES)));
const CONFIG = read('gpt2-tiny-a/config.json');
const SAFETENSORS = read('gpt2-tiny-a/model.safetensors');

/** The tensors of a float32 safetensors file in two shards, and their index. */
function twoShards(bytes: Uint8Array): Record<string, Uint8Array | string> {
  const file = parseSafetensors(bytes);
  const names = [...file.entries.keys()].sort();
  const half = (part: string[]) =>
    writeSafetensors(
      Object.fromEntries(
        part.map((n) => [n, { shape: file.entries.get(n)!.shape, data: readFloat32(file, n) }]),
      ),
    );
  const cut = Math.ceil(names.length / 2);
  const shardNames = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const weightMap = Object.fromEntries(names.map((n, i) => [n, shardNames[i < cut ? 0 : 1]]));
  return {
    'model.safetensors.index.json': JSON.stringify({
      metadata: { total_size: file.data.byteLength },
      weight_map: weightMap,
    }),
    [shardNames[0]]: half(names.slice(0, cut)),
    [shardNames[1]]: half(names.slice(cut)),
  };
}

const FOLDERS: Record<string, Record<string, Uint8Array | string>> = {
  single: { 'config.json': CONFIG, 'model.safetensors': SAFETENSORS },
  sharded: { 'config.json': CONFIG, ...twoShards(SAFETENSORS) },
  bin: { 'config.json': CONFIG, 'pytorch_model.bin': read('pytorch-bin/gpt2-tiny-a.bin') },
  evil: { 'config.json': CONFIG, 'pytorch_model.bin': read('pytorch-bin/evil-os-system.bin') },
  'bin-sharded': { 'config.json': CONFIG, 'pytorch_model.bin.index.json': '{"weight_map": {}}' },
  'bad-index': {
    'config.json': CONFIG,
    'model.safetensors.index.json': JSON.stringify({ weight_map: { 'wte.weight': '../x.bin' } }),
  },
  none: { 'config.json': CONFIG },
};

const fetchFolders = (async (input: URL | RequestInfo) => {
  const match = /^\/app\/models\/([^/]+)\/([^/]+)$/.exec(new URL(String(input)).pathname);
  const body = match ? FOLDERS[match[1]]?.[match[2]] : undefined;
  if (body === undefined) return new Response('not found', { status: 404 });
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  return new Response(bytes as Uint8Array<ArrayBuffer>, {
    headers: { 'Content-Length': String(bytes.byteLength) },
  });
}) as typeof fetch;

let engine: Engine;
let sent: Response[] = [];
let nextId = 1;
afterEach(() => engine?.dispose());

function start(): void {
  sent = [];
  engine = new Engine({
    pageUrl: PAGE,
    fetch: fetchFolders,
    padToBuckets: false,
    post: (message, transfer) => sent.push(structuredClone(message, { transfer })),
  });
}

function answer(id: number): Response {
  const found = sent.filter((m) => 'id' in m && m.id === id && m.type !== 'progress');
  return found[found.length - 1];
}

async function load(name: string): Promise<Response> {
  const id = nextId++;
  await engine.handle({ type: 'load', id, source: { kind: 'url', url: `models/${name}/` } });
  return answer(id);
}

/** The logits of every position of `1 2 3 4 5`, as the traced run reads them back. */
async function logits(): Promise<Float32Array> {
  const id = nextId++;
  const input = { text: '1 2 3 4 5' };
  await engine.handle({
    type: 'run',
    id,
    input,
    interventions: PLAIN,
    captureQKV: false,
    topK: 3,
    logits: 'all',
  });
  for (const m of sent) {
    if (m.type === 'chunk' && m.id === id && m.chunk.type === 'output') return m.chunk.logits!.data;
  }
  throw new Error(JSON.stringify(answer(id)));
}

describe('weight files', () => {
  it('loads sharded safetensors and pytorch_model.bin to the same logits as model.safetensors', async () => {
    start();
    expect((await load('single')).type).toBe('loaded');
    const expected = await logits();
    for (const name of ['sharded', 'bin']) {
      const loaded = await load(name);
      expect(loaded, name).toMatchObject({ type: 'loaded' });
      expect(await logits(), name).toEqual(expected);
    }
  });

  it('refuses what it cannot load, by name, and keeps the model it had', async () => {
    start();
    await load('single');
    const before = await logits();
    const cases: [string, string, RegExp][] = [
      ['evil', 'bad-model', /pytorch_model\.bin/],
      ['bin-sharded', 'unsupported-model', /pytorch_model\.bin\.index\.json.*not supported/],
      ['bad-index', 'bad-model', /model\.safetensors\.index\.json/],
      [
        'none',
        'bad-model',
        /^model\.safetensors is missing: .*; the folder has no .*pytorch_model\.bin either/,
      ],
    ];
    for (const [name, code, message] of cases) {
      expect(await load(name), name).toMatchObject({
        type: 'error',
        code,
        message: expect.stringMatching(message),
      });
    }
    expect(await logits()).toEqual(before);
  });
});
