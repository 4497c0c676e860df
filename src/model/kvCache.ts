/** The KV cache of step-through generation: earlier tokens' keys and values, per decoder layer. */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Per layer, `[1, n_kv, T, d/h]` each: one row per key/value head, not per query head, so a
 * grouped-query model's cache is n_kv/h of a repeated one (attention repeats them at use).
 */
export type KeysValues = { k: tf.Tensor; v: tf.Tensor }[];

/** Keys and values of tokens already processed, per decoder layer, and the encoder's output. */
export interface KVCache {
  /** Number of decoder tokens already cached. */
  length: number;
  layers: KeysValues;
  memory?: { x: tf.Tensor; length: number };
  dispose(): void;
}

export function createKVCache(): KVCache {
  const cache: KVCache = {
    length: 0,
    layers: [],
    dispose() {
      for (const l of cache.layers) tf.dispose([l.k, l.v]);
      if (cache.memory) cache.memory.x.dispose();
      cache.layers = [];
      cache.memory = undefined;
      cache.length = 0;
    },
  };
  return cache;
}
