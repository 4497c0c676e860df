/**
 * Sharded safetensors checkpoints: `model.safetensors.index.json` maps each tensor name to the
 * shard file holding it (`{"metadata": {"total_size": …}, "weight_map": {name: file}}`, as
 * transformers' `save_pretrained` writes it). The shards are merged into one file of the shape
 * `parseSafetensors` returns, so the checkpoint loader reads it as one `model.safetensors`.
 * Shards are added one at a time and copied into one buffer, so a caller that drops each shard
 * after adding it peaks at the merged size plus one shard.
 */

import { isJsonObject } from './tokenizer/json';
import { parseSafetensors, type SafetensorsFile, type TensorEntry } from './safetensors';

export class ShardError extends Error {
  override name = 'ShardError';
  constructor(
    readonly code: 'index' | 'unknown-shard' | 'duplicate' | 'unlisted' | 'missing',
    message: string,
  ) {
    super(message);
  }
}

export interface ShardIndex {
  /** The shard files, in the order they first appear in the weight map. */
  shards: string[];
  /** Tensor name → shard file. */
  weightMap: Map<string, string>;
  /** Bytes of tensor data the index declares (`metadata.total_size`), or null. */
  totalSize: number | null;
}

const INDEX = 'model.safetensors.index.json';

/** A shard's file name: a plain relative path inside the repo, never a URL or `..`. */
function isSafeShardName(name: string): boolean {
  return (
    name.endsWith('.safetensors') &&
    !name.startsWith('/') &&
    !name.includes('\\') &&
    !name.includes(':') &&
    !name.split('/').includes('..')
  );
}

/** Validates a parsed `model.safetensors.index.json`. */
export function parseShardIndex(json: unknown): ShardIndex {
  if (!isJsonObject(json) || !isJsonObject(json.weight_map)) {
    throw new ShardError('index', `${INDEX}: expected an object with a "weight_map" object`);
  }
  const weightMap = new Map<string, string>();
  for (const [name, file] of Object.entries(json.weight_map)) {
    if (typeof file !== 'string' || !isSafeShardName(file)) {
      throw new ShardError(
        'index',
        `${INDEX}: tensor "${name}" maps to ${JSON.stringify(file)}, not a .safetensors file of the repo`,
      );
    }
    weightMap.set(name, file);
  }
  if (weightMap.size === 0) throw new ShardError('index', `${INDEX}: the weight map is empty`);
  const total = isJsonObject(json.metadata) ? json.metadata.total_size : undefined;
  const totalSize =
    Number.isSafeInteger(total) && (total as number) >= 0 ? (total as number) : null;
  return { shards: [...new Set(weightMap.values())], weightMap, totalSize };
}

/** Merges the shards of one index, checking that each tensor comes once, from its shard. */
export class ShardAssembler {
  private data: Uint8Array;
  private used = 0;
  private readonly entries = new Map<string, TensorEntry>();
  private readonly added = new Set<string>();

  constructor(readonly index: ShardIndex) {
    this.data = new Uint8Array(index.totalSize ?? 0);
  }

  /** Shards not added yet. */
  get pending(): string[] {
    return this.index.shards.filter((s) => !this.added.has(s));
  }

  /**
   * Copies one shard's tensors in (its bytes, or the file as its download's check parsed it);
   * the shard may be dropped afterwards.
   */
  add(shard: string, bytes: Uint8Array | SafetensorsFile): void {
    if (!this.index.shards.includes(shard)) {
      throw new ShardError('unknown-shard', `${shard} is not a shard of ${INDEX}`);
    }
    if (this.added.has(shard)) throw new ShardError('duplicate', `${shard} was added twice`);
    const file = bytes instanceof Uint8Array ? parseSafetensors(bytes) : bytes;
    for (const [name, entry] of file.entries) {
      const home = this.index.weightMap.get(name);
      if (home === undefined) {
        throw new ShardError(
          'unlisted',
          `${shard} holds tensor "${name}", which ${INDEX} does not list`,
        );
      }
      if (home !== shard || this.entries.has(name)) {
        throw new ShardError(
          'duplicate',
          `tensor "${name}" is in ${shard}, but ${INDEX} places it in ${home}`,
        );
      }
      this.reserve(entry.end - entry.begin);
      this.data.set(file.data.subarray(entry.begin, entry.end), this.used);
      this.entries.set(name, {
        dtype: entry.dtype,
        shape: entry.shape,
        begin: this.used,
        end: this.used + entry.end - entry.begin,
      });
      this.used += entry.end - entry.begin;
    }
    this.added.add(shard);
  }

  /** The merged file; every tensor of the weight map must have arrived. */
  finish(): SafetensorsFile {
    const missing = [...this.index.weightMap].filter(([name]) => !this.entries.has(name));
    if (missing.length > 0) {
      const [name, shard] = missing[0];
      throw new ShardError(
        'missing',
        `${missing.length} tensor(s) of ${INDEX} did not arrive, e.g. "${name}" from ${shard}`,
      );
    }
    return { entries: this.entries, metadata: {}, data: this.data.subarray(0, this.used) };
  }

  /** Room for `bytes` more; grows by doubling when `total_size` was absent or too small. */
  private reserve(bytes: number): void {
    if (this.used + bytes <= this.data.byteLength) return;
    const grown = new Uint8Array(Math.max(this.used + bytes, 2 * this.data.byteLength));
    grown.set(this.data.subarray(0, this.used));
    this.data = grown;
  }
}

/** All shards at once (tests, dropped files): `shards` maps each shard file to its bytes. */
export function mergeShards(
  indexJson: unknown,
  shards: ReadonlyMap<string, Uint8Array>,
): SafetensorsFile {
  const assembler = new ShardAssembler(parseShardIndex(indexJson));
  for (const shard of assembler.index.shards) {
    const bytes = shards.get(shard);
    if (!bytes) throw new ShardError('missing', `shard ${shard} of ${INDEX} is missing`);
    assembler.add(shard, bytes);
  }
  return assembler.finish();
}
