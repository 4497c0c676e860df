/**
 * Sharded safetensors: gpt2-tiny-a split over two shards (F32 and F16) plus a hand-written BF16
 * shard, merged back through `model.safetensors.index.json`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSafetensors, readFloat32, writeSafetensors } from '../../src/model/safetensors';
import { mergeShards, parseShardIndex, ShardAssembler, ShardError } from '../../src/model/shards';
import { FIXTURES } from './helpers';

const original = parseSafetensors(
  new Uint8Array(readFileSync(join(FIXTURES, 'gpt2-tiny-a', 'model.safetensors'))),
);
const names = [...original.entries.keys()].sort();
const tensorsOf = (list: string[]) =>
  Object.fromEntries(
    list.map((n) => [n, { shape: original.entries.get(n)!.shape, data: readFloat32(original, n) }]),
  );

/** A one-tensor BF16 safetensors file, written by hand: 1.5, -2, 0.25 are exact in bfloat16. */
function bf16File(): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({ extra_bf16: { dtype: 'BF16', shape: [3], data_offsets: [0, 6] } }),
  );
  const out = new Uint8Array(8 + header.length + 6);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  const f32 = new Float32Array([1.5, -2, 0.25]);
  const u32 = new Uint32Array(f32.buffer);
  u32.forEach((bits, i) => view.setUint16(8 + header.length + 2 * i, bits >>> 16, true));
  return out;
}

const half = Math.ceil(names.length / 2);
const SHARD_1 = 'model-00001-of-00003.safetensors';
const SHARD_2 = 'model-00002-of-00003.safetensors';
const SHARD_3 = 'model-00003-of-00003.safetensors';

function shardedRepo() {
  const shards = new Map([
    [SHARD_1, writeSafetensors(tensorsOf(names.slice(0, half)), 'F32')],
    [SHARD_2, writeSafetensors(tensorsOf(names.slice(half)), 'F16')],
    [SHARD_3, bf16File()],
  ]);
  const weightMap: Record<string, string> = {};
  names.forEach((n, i) => (weightMap[n] = i < half ? SHARD_1 : SHARD_2));
  weightMap.extra_bf16 = SHARD_3;
  const index = { metadata: { total_size: 1000 }, weight_map: weightMap };
  return { index, shards };
}

describe('mergeShards', () => {
  it('merges F32, F16 and BF16 shards into one file of every tensor', () => {
    const { index, shards } = shardedRepo();
    const merged = mergeShards(index, shards);
    expect(merged.entries.size).toBe(names.length + 1);
    for (const n of names.slice(0, half)) {
      expect(merged.entries.get(n)?.dtype).toBe('F32');
      expect(readFloat32(merged, n)).toEqual(readFloat32(original, n));
    }
    for (const n of names.slice(half)) {
      expect(merged.entries.get(n)?.dtype).toBe('F16');
      expect(merged.entries.get(n)?.shape).toEqual(original.entries.get(n)?.shape);
      const a = readFloat32(merged, n);
      const b = readFloat32(original, n);
      // float16 keeps 11 bits: relative error below 2^-11
      const worst = Math.max(...b.map((x, i) => Math.abs(a[i] - x) - Math.abs(x) / 2048));
      expect(worst).toBeLessThanOrEqual(1e-7);
    }
    expect(Array.from(readFloat32(merged, 'extra_bf16'))).toEqual([1.5, -2, 0.25]);
  });

  it('grows past a total_size that was too small, and works without one', () => {
    const { index, shards } = shardedRepo();
    const bytes = (idx: unknown) => mergeShards(idx, shards).data.byteLength;
    expect(bytes({ weight_map: index.weight_map })).toBe(bytes(index));
    expect(bytes(index)).toBeGreaterThan(1000);
  });

  it('names a shard that is missing, a tensor that did not arrive, or one out of place', () => {
    const { index, shards } = shardedRepo();
    shards.delete(SHARD_3);
    expect(() => mergeShards(index, shards)).toThrow(/shard model-00003-of-00003.safetensors/);

    const { index: index2, shards: shards2 } = shardedRepo();
    index2.weight_map['h.9.mlp.c_fc.weight'] = SHARD_2;
    expect(() => mergeShards(index2, shards2)).toThrow(
      /"h\.9\.mlp\.c_fc\.weight" from model-00002/,
    );

    const { index: index3, shards: shards3 } = shardedRepo();
    index3.weight_map[names[0]] = SHARD_2;
    expect(() => mergeShards(index3, shards3)).toThrow(
      /is in model-00001.*places it in model-00002/,
    );

    const { index: index4, shards: shards4 } = shardedRepo();
    delete index4.weight_map[names[0]];
    expect(() => mergeShards(index4, shards4)).toThrow(ShardError);
    expect(() => mergeShards(index4, shards4)).toThrow(/holds tensor .* does not list/);
  });

  it('refuses adding a shard twice or one the index does not name', () => {
    const { index, shards } = shardedRepo();
    const assembler = new ShardAssembler(parseShardIndex(index));
    expect(assembler.pending).toEqual([SHARD_1, SHARD_2, SHARD_3]);
    assembler.add(SHARD_3, shards.get(SHARD_3)!);
    expect(assembler.pending).toEqual([SHARD_1, SHARD_2]);
    expect(() => assembler.add(SHARD_3, shards.get(SHARD_3)!)).toThrow(/added twice/);
    expect(() => assembler.add('other.safetensors', shards.get(SHARD_3)!)).toThrow(/not a shard/);
    expect(() => assembler.finish()).toThrow(/did not arrive/);
  });
});

describe('parseShardIndex', () => {
  it('reads the shards in order and the declared size', () => {
    const { index } = shardedRepo();
    const parsed = parseShardIndex(index);
    expect(parsed.shards).toEqual([SHARD_1, SHARD_2, SHARD_3]);
    expect(parsed.totalSize).toBe(1000);
    expect(parsed.weightMap.get('extra_bf16')).toBe(SHARD_3);
  });

  it('refuses broken indexes and shard names outside the repo', () => {
    const bad = (weightMap: unknown) => () => parseShardIndex({ weight_map: weightMap });
    expect(() => parseShardIndex([])).toThrow(/"weight_map"/);
    expect(bad({})).toThrow(/empty/);
    expect(bad({ w: 3 })).toThrow(ShardError);
    for (const name of [
      '../secret.safetensors',
      '/etc/x.safetensors',
      'https://e.vil/a.safetensors',
      'a.bin',
    ]) {
      expect(bad({ w: name })).toThrow(/not a .safetensors file of the repo/);
    }
  });
});
