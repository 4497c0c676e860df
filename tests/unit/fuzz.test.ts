/**
 * Seeded fuzzing of what a model folder feeds the readers: the fixtures' `config.json` and
 * `model.safetensors`, Marian's `vocab.json` and SentencePiece models, and our `lab-tokenizer.json`,
 * each damaged in one way (header length, truncation, flipped bytes, shapes, offsets, dtypes,
 * NaN/Inf, config fields, vocabulary ids). Every input must end either in a typed error (a class
 * of the project with a code, a message that names the problem and never says "undefined") or
 * in a model or tokenizer that works: finite logits, ids inside the vocabulary. Damage to the
 * structure must never be accepted with a different model (silently wrong weights); only a
 * flipped byte among the weights' values may change the model, as the format has no checksum.
 * The figures are reported in docs/reliability.md.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, loadCheckpoint } from '../../src/model/checkpoint';
import { ConfigError } from '../../src/model/config';
import { disposeModel, runForward, type Model } from '../../src/model/model';
import { SafetensorsError } from '../../src/model/safetensors';
import { marianTokenizer, tokenizerFromJson, type Tokenizer } from '../../src/model/tokenizer';
import { TokenizerError } from '../../src/model/tokenizer/types';
import { useFastestNodeBackend } from '../../scripts/lib/node-model';
import { FIXTURES } from './helpers';
import { seededRandom } from './tokenizerTestText';

const SEED = 20261129;
/** A case that takes this long is a hang (a tiny fixture loads and runs in milliseconds). */
const CASE_BOUND_MS = 10_000;
const TEXTS = ['Hello, world!', 'the king ✓ 中文 😀', '5 March 1999', ''];

type Json = Record<string, unknown>;
type Random = () => number;
/** What a case may end in besides a typed error: the same model, or any working one. */
type Accept = 'same' | 'any';
interface Case {
  kind: string;
  detail: string;
  accept: Accept;
  run: () => Promise<Result>;
}
type Result = { outcome: 'same' | 'changed' } | { outcome: 'error'; error: unknown };
interface Finding {
  kind: string;
  detail: string;
  outcome: 'same' | 'changed' | 'error';
  code?: string;
  problem?: string;
  ms: number;
}

const TYPED = [SafetensorsError, CheckpointError, ConfigError, TokenizerError];

/** Why an error is not a clean one, or null. */
function errorProblem(error: unknown): string | null {
  if (!TYPED.some((c) => error instanceof c)) return `untyped ${String(error)}`;
  const { code, message } = error as Error & { code?: unknown };
  if (typeof code !== 'string' || code === '') return `no code: ${message}`;
  if (message.length < 10 || /undefined|\[object Object\]/.test(message)) {
    return `message does not name the problem: ${message}`;
  }
  return null;
}

const pick = <T>(random: Random, items: readonly T[]): T =>
  items[Math.floor(random() * items.length)];
const int = (random: Random, n: number): number => Math.floor(random() * n);

// ---------------------------------------------------------------------------------------------
// Checkpoints

interface Fixture {
  name: string;
  config: Json;
  bytes: Uint8Array;
  input: { ids: number[]; sourceIds?: number[] };
  /** Keys of config.json by what they hold, for the config mutations. */
  keys: Record<'int' | 'number' | 'bool' | 'string' | 'id', string[]>;
  /** Keys whose value sets a layer count or size the file must match. */
  sizes: string[];
  baseline: Float32Array;
}

function readFixture(name: string): Pick<Fixture, 'config' | 'bytes'> {
  return {
    config: JSON.parse(readFileSync(join(FIXTURES, name, 'config.json'), 'utf8')) as Json,
    bytes: new Uint8Array(readFileSync(join(FIXTURES, name, 'model.safetensors'))),
  };
}

interface Parts {
  header: Json;
  data: Uint8Array;
}

function split(bytes: Uint8Array): Parts {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return {
    header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Json,
    data: bytes.subarray(8 + length),
  };
}

/** A file from its parts, the header padded with spaces to align the data as writers do. */
function assemble({ header, data }: Parts): Uint8Array {
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - ((text.length + 8) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + headerBytes.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(data, 8 + headerBytes.length);
  return out;
}

function tensorNames(header: Json): string[] {
  return Object.keys(header).filter((k) => k !== '__metadata__');
}

async function logitsOf(model: Model, input: Fixture['input']): Promise<Float32Array> {
  const trace = await runForward(model, input);
  return trace.decoder!.output!.logits!.data;
}

/** Load, run and compare with the fixture's own logits; nothing may stay allocated. */
async function loadAndRun(f: Fixture, config: unknown, bytes: Uint8Array): Promise<Result> {
  const before = tf.memory().numTensors;
  let model: Model | null = null;
  try {
    model = loadCheckpoint(JSON.parse(JSON.stringify(config)), bytes);
    const logits = await logitsOf(model, f.input);
    if (!logits.every(Number.isFinite))
      throw new Error('accepted, with logits that are not finite');
    const same = logits.length === f.baseline.length && logits.every((v, i) => v === f.baseline[i]);
    return { outcome: same ? 'same' : 'changed' };
  } catch (error) {
    return { outcome: 'error', error };
  } finally {
    if (model) disposeModel(model);
    expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
  }
}

const BAD_VALUES: Record<keyof Fixture['keys'], unknown[]> = {
  int: [0, -1, 1.5, '3', true, [], {}, 1e300, 2 ** 60],
  number: [0, -1e-5, '1e-5', true, [], {}],
  bool: ['yes', 1, 0, 'true', [], {}],
  string: ['tanh', 1, true, [], {}, ''],
  id: [-1, 1e9, 1.5, '0', true, [], {}],
};

/** One damaged checkpoint of each kind, drawn from `random`. */
function checkpointCase(f: Fixture, random: Random): Case {
  const { header, data } = split(f.bytes);
  const names = tensorNames(header);
  const load = (config: unknown, bytes: Uint8Array) => () => loadAndRun(f, config, bytes);
  const kinds: (() => Case)[] = [
    () => {
      const bytes = f.bytes.slice();
      const view = new DataView(bytes.buffer);
      const length = view.getBigUint64(0, true);
      const delta = pick(random, [-8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8]);
      const value =
        random() < 0.85
          ? length + BigInt(delta)
          : pick(random, [0n, 2n ** 63n, 2n ** 32n + length]);
      view.setBigUint64(0, value, true);
      return {
        kind: 'header length',
        detail: `${length} → ${value}`,
        accept: 'same',
        run: load(f.config, bytes),
      };
    },
    () => {
      const at = int(random, f.bytes.length);
      return {
        kind: 'truncated',
        detail: `at byte ${at}`,
        accept: 'same',
        run: load(f.config, f.bytes.slice(0, at)),
      };
    },
    () => {
      const extra = Uint8Array.from({ length: 1 + int(random, 16) }, () => int(random, 256));
      const bytes = new Uint8Array(f.bytes.length + extra.length);
      bytes.set(f.bytes);
      bytes.set(extra, f.bytes.length);
      return {
        kind: 'bytes appended',
        detail: `${extra.length}`,
        accept: 'same',
        run: load(f.config, bytes),
      };
    },
    () => {
      const bytes = f.bytes.slice();
      const at = 8 + int(random, bytes.length - data.length - 8);
      bytes[at] = int(random, 256);
      return {
        kind: 'header byte flipped',
        detail: `byte ${at} = ${bytes[at]}`,
        accept: 'same',
        run: load(f.config, bytes),
      };
    },
    () => {
      // The format has no checksum: a new value among the weights is a different model, which
      // must still be refused if it is not finite or implausibly large.
      const bytes = f.bytes.slice();
      const at = bytes.length - data.length + int(random, data.length);
      bytes[at] = int(random, 256);
      return {
        kind: 'weight byte flipped',
        detail: `byte ${at} = ${bytes[at]}`,
        accept: 'any',
        run: load(f.config, bytes),
      };
    },
    () => {
      const name = pick(random, names);
      const [begin, end] = (header[name] as { data_offsets: number[] }).data_offsets;
      const at = begin + 4 * int(random, (end - begin) / 4);
      const value = pick(random, [NaN, Infinity, -Infinity, 3e38, -1e9]);
      const d = data.slice();
      new DataView(d.buffer).setFloat32(at, value, true);
      return {
        kind: 'NaN, ±∞ or huge weight',
        detail: `${name} = ${value}`,
        accept: 'same',
        run: load(f.config, assemble({ header, data: d })),
      };
    },
    () => {
      const h = JSON.parse(JSON.stringify(header)) as Json;
      const name = pick(random, names);
      const entry = h[name] as { dtype: unknown; shape: number[]; data_offsets: number[] };
      const [b, e] = entry.data_offsets;
      const ops: [string, () => void][] = [
        ['shape huge', () => (entry.shape = [2 ** 53, 2 ** 53])],
        ['shape negative', () => (entry.shape = [-1, ...entry.shape])],
        [
          'shape fractional',
          () => (entry.shape = [entry.shape[0] / 2, 2, ...entry.shape.slice(1)]),
        ],
        ['shape a string', () => ((entry as Json).shape = 'x')],
        ['shape empty', () => (entry.shape = [])],
        ['shape 1e300', () => (entry.shape = [1e300])],
        ['shape transposed', () => entry.shape.reverse()],
        ['shape with a 1 added', () => entry.shape.push(1)],
        ['offsets shifted back', () => (entry.data_offsets = [b - 4, e - 4])],
        ['offsets shifted on', () => (entry.data_offsets = [b + 4, e + 4])],
        ['offsets swapped', () => (entry.data_offsets = [e, b])],
        ['offsets negative', () => (entry.data_offsets = [-4, e])],
        ['offsets past 2^53', () => (entry.data_offsets = [b, 2 ** 60])],
        ['offsets missing', () => delete (entry as Json).data_offsets],
        ['offsets strings', () => ((entry as Json).data_offsets = [String(b), String(e)])],
        ['offsets three', () => (entry.data_offsets = [b, e, e])],
        ['dtype I64', () => (entry.dtype = 'I64')],
        ['dtype F64', () => (entry.dtype = 'F64')],
        ['dtype F16', () => (entry.dtype = 'F16')],
        ['dtype BF16', () => (entry.dtype = 'BF16')],
        ['dtype unknown', () => (entry.dtype = 'F33')],
        ['dtype missing', () => delete (entry as Json).dtype],
        ['dtype a number', () => (entry.dtype = 7)],
        ['entry null', () => (h[name] = null)],
        ['entry a number', () => (h[name] = 3)],
        ['entry a list', () => (h[name] = [])],
        ['tensor renamed', () => ((h[`${name}x`] = entry), delete h[name])],
        ['tensor removed', () => delete h[name]],
        ['tensor duplicated', () => (h[`${name}.copy`] = { ...entry })],
        ['metadata not strings', () => (h.__metadata__ = { format: 1 })],
        ['metadata a list', () => (h.__metadata__ = ['pt'])],
      ];
      const [op, apply] = pick(random, ops);
      apply();
      return {
        kind: 'header entry',
        detail: `${name}: ${op}`,
        accept: 'same',
        run: load(f.config, assemble({ header: h, data })),
      };
    },
    () => {
      const type = pick(random, Object.keys(f.keys) as (keyof Fixture['keys'])[]);
      const key = pick(random, f.keys[type]);
      const value = pick(random, BAD_VALUES[type]);
      return {
        kind: 'config value',
        detail: `${key}: ${JSON.stringify(value)}`,
        accept: 'same',
        run: load({ ...f.config, [key]: value }, f.bytes),
      };
    },
    () => {
      const key = pick(random, f.sizes);
      const delta = pick(random, [-1, 1, 4]);
      const value = (f.config[key] as number) + delta;
      return {
        kind: 'config size',
        detail: `${key}: ${value}`,
        accept: 'same',
        run: load({ ...f.config, [key]: value }, f.bytes),
      };
    },
  ];
  return pick(random, kinds)();
}

// ---------------------------------------------------------------------------------------------
// Tokenizers

/** A tokenizer that was built must work: ids inside its vocabulary, decodable, readable. */
function exercise(t: Tokenizer & { encodeTarget?(text: string): number[] }): void {
  for (const text of TEXTS) {
    for (const ids of [t.encode(text), t.encodeTarget?.(text) ?? []]) {
      if (!ids.every((id) => Number.isInteger(id) && id >= 0 && id < t.vocabSize)) {
        throw new Error(`ids outside the vocabulary: ${ids.join(' ')}`);
      }
      if (typeof t.decode(ids) !== 'string') throw new Error('decode gave no text');
      ids.forEach((id) => t.piece(id));
    }
  }
}

function tokenizerResult(build: () => Tokenizer): () => Promise<Result> {
  return () => {
    try {
      exercise(build());
      return Promise.resolve({ outcome: 'changed' });
    } catch (error) {
      return Promise.resolve({ outcome: 'error', error });
    }
  };
}

const SPM_DIR = join(import.meta.dirname, 'data', 'spm');
const SOURCE_SPM = new Uint8Array(readFileSync(join(SPM_DIR, 'source.spm')));
const TARGET_SPM = new Uint8Array(readFileSync(join(SPM_DIR, 'target.spm')));
const VOCAB = JSON.parse(readFileSync(join(SPM_DIR, 'vocab.json'), 'utf8')) as Record<
  string,
  number
>;
const VOCAB_SIZE = 1222;
const OWN_TOKENIZERS = ['dates-seq2seq', 'lm-prenorm'].map(
  (m) =>
    JSON.parse(
      readFileSync(
        join(import.meta.dirname, '..', '..', 'public', 'models', m, 'lab-tokenizer.json'),
        'utf8',
      ),
    ) as Json,
);

function tokenizerCase(random: Random): Case {
  const marian = (vocab: unknown, sourceSpm = SOURCE_SPM, targetSpm = TARGET_SPM) =>
    tokenizerResult(() =>
      marianTokenizer({
        sourceSpm,
        targetSpm,
        vocab: vocab as Record<string, number>,
        vocabSize: VOCAB_SIZE,
      }),
    );
  const pieces = Object.keys(VOCAB);
  const kinds: (() => Case)[] = [
    () => {
      const piece =
        random() < 0.3 ? pick(random, ['<unk>', '</s>', '<pad>']) : pick(random, pieces);
      const value = pick(random, [
        -1,
        1.5,
        VOCAB_SIZE,
        1e9,
        2 ** 32,
        1e300,
        '7',
        null,
        [],
        {},
        5,
        undefined,
      ]);
      const vocab: Json = { ...VOCAB, [piece]: value };
      if (value === undefined) delete vocab[piece];
      return {
        kind: 'vocab.json id',
        detail: `${piece}: ${JSON.stringify(value) ?? 'removed'}`,
        accept: 'any',
        run: marian(vocab),
      };
    },
    () => {
      const vocab = pick(random, [[], 'x', null, {}, 7]);
      return {
        kind: 'vocab.json shape',
        detail: JSON.stringify(vocab),
        accept: 'any',
        run: marian(vocab),
      };
    },
    () => {
      const target = random() < 0.5;
      const spm = (target ? TARGET_SPM : SOURCE_SPM).slice();
      const flips = 1 + int(random, 4);
      for (let k = 0; k < flips; k++) spm[int(random, spm.length)] = int(random, 256);
      const detail = `${target ? 'target' : 'source'}.spm, ${flips} bytes`;
      return {
        kind: 'spm bytes flipped',
        detail,
        accept: 'any',
        run: target ? marian(VOCAB, SOURCE_SPM, spm) : marian(VOCAB, spm),
      };
    },
    () => {
      const at = int(random, TARGET_SPM.length);
      return {
        kind: 'spm truncated',
        detail: `target.spm at ${at}`,
        accept: 'any',
        run: marian(VOCAB, SOURCE_SPM, TARGET_SPM.subarray(0, at)),
      };
    },
    () => {
      const json = JSON.parse(JSON.stringify(pick(random, OWN_TOKENIZERS))) as Json;
      const type = String(json.type);
      const list = (json.vocab ?? json.alphabet) as unknown[];
      const listName = json.vocab ? 'vocab' : 'alphabet';
      const ops: [string, () => void][] = [
        ['type unknown', () => (json.type = pick(random, ['bpe', 7, null]))],
        ['type missing', () => delete json.type],
        [`${listName} entry empty`, () => (list[int(random, list.length)] = '')],
        [`${listName} entry a number`, () => (list[int(random, list.length)] = 5)],
        [`${listName} entry repeated`, () => (list[int(random, list.length)] = list[0])],
        [`${listName} missing`, () => delete json[listName]],
        ['special id negative', () => ((json.special_tokens as Json)['<x>'] = -1)],
        ['special id huge', () => ((json.special_tokens as Json)['<x>'] = 1e9)],
        ['special id a string', () => ((json.special_tokens as Json)['<x>'] = '1')],
        ['special id an object', () => ((json.special_tokens as Json)['<x>'] = {})],
        ['special tokens a list', () => (json.special_tokens = [])],
        [
          'special id repeated',
          () =>
            ((json.special_tokens as Json)['<x>'] = Object.values(json.special_tokens as Json)[0]),
        ],
      ];
      if (Array.isArray(json.merges)) {
        const merges = json.merges as unknown[];
        ops.push(
          ['merge of unknown tokens', () => (merges[int(random, merges.length)] = ['∅', '∅'])],
          ['merge not a pair', () => (merges[int(random, merges.length)] = 'ab')],
          ['merges not a list', () => (json.merges = {})],
        );
      }
      const [op, apply] = pick(random, ops);
      apply();
      return {
        kind: 'lab-tokenizer.json',
        detail: `${type}: ${op}`,
        accept: 'any',
        run: tokenizerResult(() => tokenizerFromJson(json)),
      };
    },
  ];
  return pick(random, kinds)();
}

// ---------------------------------------------------------------------------------------------

describe('fuzzing the readers (seeded)', () => {
  const fixtures: Fixture[] = [];
  beforeAll(async () => {
    await useFastestNodeBackend();
    const gpt2 = readFixture('gpt2-tiny-a');
    const marian = readFixture('marian-tiny-a');
    const specs: Omit<Fixture, 'baseline'>[] = [
      {
        name: 'gpt2-tiny-a',
        ...gpt2,
        input: { ids: [1, 5, 9, 63, 0, 2] },
        keys: {
          int: ['vocab_size', 'n_embd', 'n_head', 'n_layer', 'n_positions', 'n_inner'],
          number: ['layer_norm_epsilon'],
          bool: ['scale_attn_weights', 'scale_attn_by_inverse_layer_idx'],
          string: ['activation_function', 'model_type'],
          id: ['eos_token_id', 'pad_token_id'],
        },
        sizes: ['n_layer', 'vocab_size', 'n_embd', 'n_positions'],
      },
      {
        name: 'marian-tiny-a',
        ...marian,
        input: { ids: [60, 7, 3], sourceIds: [5, 9, 2, 0] },
        keys: {
          int: [
            'vocab_size',
            'd_model',
            'encoder_layers',
            'decoder_layers',
            'decoder_attention_heads',
            'encoder_ffn_dim',
            'decoder_ffn_dim',
            'max_position_embeddings',
            'decoder_vocab_size',
          ],
          number: [],
          bool: ['scale_embedding', 'share_encoder_decoder_embeddings'],
          string: ['activation_function', 'model_type'],
          id: ['eos_token_id', 'pad_token_id', 'decoder_start_token_id'],
        },
        sizes: ['encoder_layers', 'decoder_layers', 'vocab_size', 'd_model', 'decoder_ffn_dim'],
      },
    ];
    for (const spec of specs) {
      if (spec.keys.number.length === 0) delete (spec.keys as Partial<Fixture['keys']>).number;
      const model = loadCheckpoint(spec.config, spec.bytes);
      try {
        fixtures.push({ ...spec, baseline: await logitsOf(model, spec.input) });
      } finally {
        disposeModel(model);
      }
    }
  });

  it('every damaged input ends in a typed error or a working model, none hangs', async () => {
    const random = seededRandom(SEED);
    const cases: Case[] = [];
    for (let i = 0; i < 150; i++) cases.push(checkpointCase(fixtures[0], random));
    for (let i = 0; i < 150; i++) cases.push(checkpointCase(fixtures[1], random));
    for (let i = 0; i < 100; i++) cases.push(tokenizerCase(random));

    const records: Finding[] = [];
    for (const c of cases) {
      const started = performance.now();
      const result = await c.run();
      const ms = performance.now() - started;
      const record: Finding = { kind: c.kind, detail: c.detail, outcome: result.outcome, ms };
      if (result.outcome === 'error') {
        record.code = (result.error as { code?: string }).code;
        const problem = errorProblem(result.error);
        if (problem) record.problem = problem;
      } else if (result.outcome === 'changed' && c.accept === 'same') {
        record.problem = 'accepted as a different model (silently wrong)';
      }
      if (ms > CASE_BOUND_MS) record.problem = `took ${ms.toFixed(0)} ms`;
      records.push(record);
    }

    const byKind = new Map<string, Record<string, number>>();
    for (const r of records) {
      const row = byKind.get(r.kind) ?? { tried: 0, error: 0, same: 0, changed: 0 };
      row.tried++;
      row[r.outcome]++;
      byKind.set(r.kind, row);
    }
    const codes = new Map<string, number>();
    for (const r of records) if (r.code) codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
    console.log(
      `fuzz (seed ${SEED}): ${records.length} inputs; slowest case ${Math.max(...records.map((r) => r.ms)).toFixed(0)} ms`,
    );
    console.table(Object.fromEntries(byKind));
    console.log('error codes:', JSON.stringify(Object.fromEntries([...codes].sort())));

    const failures = records.filter((r) => r.problem);
    expect(failures.map((r) => `${r.kind} (${r.detail}): ${r.problem}`)).toEqual([]);
    // The damage must have been found: most inputs are refused, and every kind was tried.
    expect(records.filter((r) => r.outcome === 'error').length).toBeGreaterThan(records.length / 2);
    expect(byKind.size).toBe(14);
  });
});
