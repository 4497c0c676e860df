/**
 * Attention masks and head gates. The batch drivers build additive masks on the device; the
 * traced driver builds them on the host too, because the trace shows them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MASKED } from './attention';
import type { HeadRef } from './model';
import type { Matrix, Stack } from './trace';

/** Additive causal mask `[1, 1, T, T]`: key j is hidden from query i when j > i. */
export function causalBias(t: number): tf.Tensor {
  return tf.tidy(() =>
    tf.reshape(tf.mul(tf.sub(tf.linalg.bandPart(tf.ones([t, t]), -1, 0), 1), -MASKED), [
      1,
      1,
      t,
      t,
    ]),
  );
}

/** Additive padding mask `[B, 1, 1, S]` from the pad id: padded keys are never attended to. */
export function paddingBias(ids: tf.Tensor, padId: number | null): tf.Tensor {
  const [b, s] = ids.shape;
  if (padId === null) return tf.zeros([b, 1, 1, s]);
  return tf.tidy(() =>
    tf.reshape(tf.mul(tf.cast(tf.equal(ids, padId), 'float32'), MASKED), [b, 1, 1, s]),
  );
}

/**
 * Host-side mask `[queries, keys]`, 1 = may attend. Queries are positions past…past+tq−1; keys
 * 0…tk−1 of which the first `realK` are real (the rest is padding). A local layer (GPT-Neo)
 * sees only keys less than `window` positions away: with the causal mask, q − window < k ≤ q.
 */
function allowedMatrix(
  tq: number,
  tk: number,
  realK: number,
  past: number,
  causal: boolean,
  window: number | null = null,
): Float32Array {
  const m = new Float32Array(tq * tk);
  for (let i = 0; i < tq; i++) {
    const q = past + i;
    for (let j = 0; j < tk; j++) {
      const inWindow = window === null || Math.abs(q - j) < window;
      m[i * tk + j] = j < realK && (!causal || j <= q) && inWindow ? 1 : 0;
    }
  }
  return m;
}

/** Additive causal mask `[1, 1, T, T]` of a local layer: key j is seen from query i when i − window < j ≤ i. */
export function windowedCausalBias(t: number, window: number): tf.Tensor {
  return biasOf(allowedMatrix(t, t, t, 0, true, window), t, t);
}

/** The attention window of each of `layers` layers: null (global) unless the model has local layers. */
export function layerWindows(
  windows: (number | null)[] | undefined,
  layers: number,
): (number | null)[] {
  return Array.from({ length: layers }, (_, i) => windows?.[i] ?? null);
}

/** The additive mask `[1, 1, tq, tk]` of a host-side `allowedMatrix`. */
function biasOf(allowed: Float32Array, tq: number, tk: number): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.sub(tf.tensor(allowed, [1, 1, tq, tk]), 1), -MASKED));
}

/** The top-left `[rows, cols]` of a host-side mask whose rows are `tk` wide: what the trace shows. */
function cropMask(allowed: Float32Array, tk: number, rows: number, cols: number): Matrix {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) out.set(allowed.subarray(i * tk, i * tk + cols), i * cols);
  return { shape: [rows, cols], data: out };
}

/** Per-head gates `[heads]` of a layer's attentions: 0 for the ablated heads, 1 for the others. */
export function headGates(
  ablated: HeadRef[],
  stack: Stack,
  layer: number,
  nHeads: number,
): Record<'self' | 'cross', Float32Array> {
  const gate = (attention: 'self' | 'cross') => {
    const g = new Float32Array(nHeads).fill(1);
    for (const h of ablated) {
      if (
        h.stack === stack &&
        h.layer === layer &&
        (h.attention ?? 'self') === attention &&
        h.head < nHeads
      )
        g[h.head] = 0;
    }
    return g;
  };
  return { self: gate('self'), cross: gate('cross') };
}

/** A host gate as the attention's `[1, h, 1, 1]` multiplier; none when every head is on. */
export function gateTensor(gate: Float32Array): tf.Tensor | undefined {
  return gate.every((v) => v === 1) ? undefined : tf.tensor(gate, [1, gate.length, 1, 1]);
}

/** The attention masks of one traced stack: additive biases for the device, crops for the trace. */
export interface StackMasks {
  self: { bias: tf.Tensor; shown: Matrix };
  /** Self-attention of local layers, by window (GPT-Neo). */
  local: Map<number, { bias: tf.Tensor; shown: Matrix }>;
  cross?: { bias: tf.Tensor; shown: Matrix };
}

/** The self-attention mask of a layer with this window (null: global). */
export function selfMaskOf(masks: StackMasks, window: number | null): StackMasks['self'] {
  return window === null ? masks.self : masks.local.get(window)!;
}

export function disposeMasks(masks: StackMasks): void {
  tf.dispose([
    masks.self.bias,
    ...[...masks.local.values()].map((m) => m.bias),
    ...(masks.cross ? [masks.cross.bias] : []),
  ]);
}

/**
 * Masks of `padded` queries (the first `real` real) at positions past…, over the cached and new
 * keys of self-attention (one more per window of the stack's local layers) and, with an encoder
 * `memory`, over its keys (the first `memory.real` real). The caller disposes them (disposeMasks).
 */
export function stackMasks(
  padded: number,
  real: number,
  past: number,
  causal: boolean,
  memory?: { keys: number; real: number },
  windows: (number | null)[] = [],
): StackMasks {
  const keys = past + padded;
  const self = (window: number | null) => {
    const allowed = allowedMatrix(padded, keys, past + real, past, causal, window);
    return {
      bias: biasOf(allowed, padded, keys),
      shown: cropMask(allowed, keys, real, past + real),
    };
  };
  const masks: StackMasks = { self: self(null), local: new Map() };
  for (const w of windows) if (w !== null && !masks.local.has(w)) masks.local.set(w, self(w));
  if (memory) {
    const crossAllowed = allowedMatrix(padded, memory.keys, memory.real, 0, false);
    masks.cross = {
      bias: biasOf(crossAllowed, padded, memory.keys),
      shown: cropMask(crossAllowed, memory.keys, real, memory.real),
    };
  }
  return masks;
}
