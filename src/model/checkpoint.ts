/**
 * Checkpoints in the Hugging Face layout (`config.json` + `model.safetensors`): GPT-2, Marian,
 * the project's own `attention-lab` models, which reuse GPT-2's tensor names (see
 * docs/model-format.md), and the families whose names live in checkpoints/ (Llama and Qwen2,
 * GPT-Neo, BERT and DistilBERT). Loading checks every tensor's presence and shape against the config
 * before any of it reaches the GPU.
 */
import * as tf from '@tensorflow/tfjs-core';
import { layersOf, parseConfig, stacksOf, type Family, type ModelConfig } from './config';
import {
  BERT_PREFIXES,
  DISTILBERT_PREFIXES,
  bertParams,
  distilBertParams,
} from './checkpoints/bert';
import { GPT_NEO_PREFIXES, gptNeoParams } from './checkpoints/gptNeo';
import { LLAMA_PREFIXES, llamaParams } from './checkpoints/llama';
import type { Model } from './model';
import {
  chunkSpans,
  type AttentionParams,
  type BlockParams,
  type LayerNormParams,
  type Linear,
  type ModelParams,
  type StackParams,
} from './params';
import { isFloatDtype, parseSafetensors, readFloat32, type SafetensorsFile } from './safetensors';

export class CheckpointError extends Error {
  override name = 'CheckpointError';
  constructor(
    readonly code:
      | 'missing-tensor'
      | 'shape-mismatch'
      | 'unexpected-tensor'
      | 'not-finite'
      | 'implausible-value',
    message: string,
  ) {
    super(message);
  }
}

/** Reads named tensors out of a safetensors file, checking shapes, and turns them into tf tensors. */
export class TensorReader {
  readonly total: number;
  loaded = 0;
  private readonly used = new Set<string>();

  constructor(
    private file: SafetensorsFile,
    private prefixes: string[],
    private onProgress?: (loaded: number, total: number) => void,
  ) {
    this.total = [...file.entries.values()].reduce((n, e) => n + e.end - e.begin, 0);
  }

  has(name: string): boolean {
    return this.prefixes.some((p) => this.file.entries.has(p + name));
  }

  /** The values of `name` (tried with each accepted prefix), checked against `shape`. */
  read(name: string, shape: number[]): Float32Array {
    const full = this.prefixes.map((p) => p + name).find((n) => this.file.entries.has(n));
    if (!full) {
      throw new CheckpointError(
        'missing-tensor',
        `model.safetensors lacks tensor "${name}", which this config needs`,
      );
    }
    const entry = this.file.entries.get(full)!;
    const same = entry.shape.length === shape.length && entry.shape.every((s, i) => s === shape[i]);
    // [1, n] and [n] hold the same numbers (Marian's final_logits_bias is stored as [1, vocab]).
    const sameSize = entry.shape.reduce((a, b) => a * b, 1) === shape.reduce((a, b) => a * b, 1);
    if (
      !same &&
      !(
        sameSize &&
        entry.shape.filter((s) => s !== 1).join() === shape.filter((s) => s !== 1).join()
      )
    ) {
      throw new CheckpointError(
        'shape-mismatch',
        `tensor "${full}" has shape [${entry.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`,
      );
    }
    const values = readFloat32(this.file, full);
    checkValues(full, values);
    this.used.add(full);
    this.loaded += entry.end - entry.begin;
    this.onProgress?.(this.loaded, this.total);
    return values;
  }

  /**
   * Every weight of the file must have been read: a float tensor the config does not account
   * for means the config is wrong (an `n_layer` smaller than the file's would silently drop
   * layers). `unused(name)` names what the family's files may carry besides (buffers such as
   * GPT-2's causal mask, tied copies); integer and boolean tensors are buffers, never weights.
   */
  checkAllUsed(cfg: ModelConfig, unused: (name: string) => boolean): void {
    for (const [name, entry] of this.file.entries) {
      if (this.used.has(name) || !isFloatDtype(entry.dtype) || unused(name)) continue;
      throw new CheckpointError(
        'unexpected-tensor',
        `model.safetensors holds tensor "${name}", which the model config.json describes does not use (${layerSummary(cfg)}): is a size in config.json wrong?`,
      );
    }
  }

  tensor1d(name: string, n: number): tf.Tensor1D {
    return tf.tensor1d(this.read(name, [n]));
  }

  tensor2d(name: string, rows: number, cols: number): tf.Tensor2D {
    return tf.tensor2d(this.read(name, [rows, cols]), [rows, cols]);
  }

  /** `[out, in]` as stored by torch.nn.Linear → `[in, out]`. */
  transposed(name: string, out: number, inp: number): tf.Tensor2D {
    return tf.tensor2d(transpose(this.read(name, [out, inp]), out, inp), [inp, out]);
  }

  /** A `[rows, d]` table as row chunks, uploaded chunk by chunk (no second whole-table copy). */
  rowChunks(name: string, rows: number, d: number): tf.Tensor2D[] {
    const values = this.read(name, [rows, d]);
    return chunkSpans(rows).map(({ start, size }) =>
      tf.tensor2d(values.subarray(start * d, (start + size) * d), [size, d]),
    );
  }
}

/** "2 layers", "2 encoder and 3 decoder layers". */
function layerSummary(cfg: ModelConfig): string {
  const stacks = stacksOf(cfg);
  const n = stacks.map((s) => layersOf(cfg, s));
  return stacks.length === 1
    ? `${n[0]} layer${n[0] === 1 ? '' : 's'}`
    : `${n[0]} encoder and ${n[1]} decoder layers`;
}

/**
 * Weights beyond this magnitude are corruption, not training (a flipped exponent bit gives
 * 1e38): one of them overflows float32 in the forward pass. F16 files cannot even hold them.
 */
const MAX_WEIGHT = 1e8;
const MAX_WEIGHT_BITS = new Uint32Array(Float32Array.of(MAX_WEIGHT).buffer)[0];

/**
 * Refuses NaN, ±∞ and values beyond ±MAX_WEIGHT: one NaN turns every prediction into NaN and
 * every heatmap into one colour that looks like data.
 */
function checkValues(name: string, values: Float32Array): void {
  // On the bits, without the sign: NaN and ±∞ lie above every finite magnitude.
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let first = 0;
  while (first < bits.length && (bits[first] & 0x7fffffff) <= MAX_WEIGHT_BITS) first++;
  if (first === bits.length) return;
  const count = values.reduce((n, v) => (Math.abs(v) <= MAX_WEIGHT ? n : n + 1), 0);
  const value = values[first];
  throw new CheckpointError(
    Number.isFinite(value) ? 'implausible-value' : 'not-finite',
    `tensor "${name}" holds ${Number.isFinite(value) ? value.toPrecision(3) : value} at element ${first} of ${values.length} (${count} of its values ${count === 1 ? 'is' : 'are'} NaN, ±Infinity or beyond ±${MAX_WEIGHT.toExponential()}): the weights are corrupt`,
  );
}

function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) out[j * rows + i] = values[i * cols + j];
  return out;
}

/** Columns [from, from+n) of a row-major `[rows, cols]` matrix. */
function columns(
  values: Float32Array,
  rows: number,
  cols: number,
  from: number,
  n: number,
): Float32Array {
  const out = new Float32Array(rows * n);
  for (let i = 0; i < rows; i++)
    out.set(values.subarray(i * cols + from, i * cols + from + n), i * n);
  return out;
}

// ---------------------------------------------------------------------------------------------
// GPT-2 names (also the project's own format)

/** `{name}.weight` is γ and `{name}.bias` is β, in GPT-2 and Marian files alike. */
function readLayerNorm(r: TensorReader, name: string, d: number): LayerNormParams {
  return { gamma: r.tensor1d(`${name}.weight`, d), beta: r.tensor1d(`${name}.bias`, d) };
}

/** Conv1D: weight stored `[in, out]`, as `x @ W` wants it. */
function gpt2Linear(
  r: TensorReader,
  name: string,
  inp: number,
  out: number,
  bias: boolean,
): Linear {
  return {
    w: r.tensor2d(`${name}.weight`, inp, out),
    ...(bias ? { b: r.tensor1d(`${name}.bias`, out) } : {}),
  };
}

/** Split a fused projection `[d, n·d]` (and its bias) into n separate `[d, d]` ones. */
function splitFused(r: TensorReader, name: string, d: number, n: number, bias: boolean): Linear[] {
  const w = r.read(`${name}.weight`, [d, n * d]);
  const b = bias ? r.read(`${name}.bias`, [n * d]) : undefined;
  return Array.from({ length: n }, (_, i) => ({
    w: tf.tensor2d(columns(w, d, n * d, i * d, d), [d, d]),
    ...(b ? { b: tf.tensor1d(b.subarray(i * d, (i + 1) * d)) } : {}),
  }));
}

function gpt2Stack(
  r: TensorReader,
  cfg: ModelConfig,
  prefix: string,
  layers: number,
  cross: boolean,
): StackParams {
  const d = cfg.dModel;
  const bias = cfg.attentionBias;
  const blocks: BlockParams[] = [];
  for (let i = 0; i < layers; i++) {
    const h = `${prefix}h.${i}`;
    const [q, k, v] = splitFused(r, `${h}.attn.c_attn`, d, 3, bias);
    const b: BlockParams = {
      ln1: readLayerNorm(r, `${h}.ln_1`, d),
      attn: { q, k, v, o: gpt2Linear(r, `${h}.attn.c_proj`, d, d, bias) },
    };
    if (cross) {
      const [ck, cv] = splitFused(r, `${h}.crossattention.c_attn`, d, 2, bias);
      b.lnCross = readLayerNorm(r, `${h}.ln_cross_attn`, d);
      b.cross = {
        q: gpt2Linear(r, `${h}.crossattention.q_attn`, d, d, bias),
        k: ck,
        v: cv,
        o: gpt2Linear(r, `${h}.crossattention.c_proj`, d, d, bias),
      };
    }
    if (!cfg.attentionOnly) {
      b.ln2 = readLayerNorm(r, `${h}.ln_2`, d);
      b.mlp = {
        fc: gpt2Linear(r, `${h}.mlp.c_fc`, d, cfg.dFF, true),
        proj: gpt2Linear(r, `${h}.mlp.c_proj`, cfg.dFF, d, true),
      };
    }
    blocks.push(b);
  }
  return { blocks, ...(cfg.finalNorm ? { finalNorm: readLayerNorm(r, `${prefix}ln_f`, d) } : {}) };
}

/** GPT-2's causal-mask buffers, which older Hugging Face files store with the weights. */
const GPT2_BUFFER = /(^|\.)(attn|crossattention)\.(bias|masked_bias)$/;

function gpt2Params(r: TensorReader, cfg: ModelConfig): ModelParams {
  const d = cfg.dModel;
  const p: ModelParams = { tokenEmbedding: r.rowChunks('wte.weight', cfg.vocabSize, d) };
  if (cfg.positions === 'learned')
    p.positionEmbedding = r.tensor2d('wpe.weight', cfg.contextLength, d);
  for (const stack of stacksOf(cfg)) {
    const prefix = cfg.architecture === 'encoder-decoder' ? `${stack}.` : '';
    p[stack] = gpt2Stack(
      r,
      cfg,
      prefix,
      layersOf(cfg, stack),
      stack === 'decoder' && cfg.architecture === 'encoder-decoder',
    );
  }
  if (!cfg.tiedEmbeddings) {
    p.lmHead = r
      .rowChunks('lm_head.weight', cfg.vocabSize, d)
      .map((c) => tf.tidy(() => tf.transpose(c) as tf.Tensor2D));
  }
  r.checkAllUsed(
    cfg,
    (name) => GPT2_BUFFER.test(name) || (cfg.tiedEmbeddings && name === 'lm_head.weight'),
  );
  return p;
}

// ---------------------------------------------------------------------------------------------
// Marian names

function marianLinear(r: TensorReader, name: string, inp: number, out: number): Linear {
  return { w: r.transposed(`${name}.weight`, out, inp), b: r.tensor1d(`${name}.bias`, out) };
}

function marianAttention(r: TensorReader, name: string, d: number): AttentionParams {
  return {
    q: marianLinear(r, `${name}.q_proj`, d, d),
    k: marianLinear(r, `${name}.k_proj`, d, d),
    v: marianLinear(r, `${name}.v_proj`, d, d),
    o: marianLinear(r, `${name}.out_proj`, d, d),
  };
}

/**
 * What Marian files may hold besides the weights read: the tied copies of the one embedding
 * (Hugging Face ties them on load) and the sinusoidal position tables (recomputed here).
 */
const MARIAN_COPIES =
  /^(model\.shared\.weight|model\.(encoder|decoder)\.embed_tokens\.weight|lm_head\.weight|model\.(encoder|decoder)\.embed_positions\.weight)$/;

function marianParams(r: TensorReader, cfg: ModelConfig): ModelParams {
  const d = cfg.dModel;
  const embeddingName =
    ['model.shared.weight', 'model.encoder.embed_tokens.weight'].find((n) => r.has(n)) ??
    'model.shared.weight';
  const p: ModelParams = { tokenEmbedding: r.rowChunks(embeddingName, cfg.vocabSize, d) };
  for (const stack of ['encoder', 'decoder'] as const) {
    const blocks: BlockParams[] = [];
    for (let i = 0; i < layersOf(cfg, stack); i++) {
      const l = `model.${stack}.layers.${i}`;
      const b: BlockParams = {
        ln1: readLayerNorm(r, `${l}.self_attn_layer_norm`, d),
        attn: marianAttention(r, `${l}.self_attn`, d),
        ln2: readLayerNorm(r, `${l}.final_layer_norm`, d),
        mlp: {
          fc: marianLinear(r, `${l}.fc1`, d, cfg.dFF),
          proj: marianLinear(r, `${l}.fc2`, cfg.dFF, d),
        },
      };
      if (stack === 'decoder') {
        b.lnCross = readLayerNorm(r, `${l}.encoder_attn_layer_norm`, d);
        b.cross = marianAttention(r, `${l}.encoder_attn`, d);
      }
      blocks.push(b);
    }
    p[stack] = { blocks };
  }
  if (r.has('final_logits_bias')) p.logitsBias = r.tensor1d('final_logits_bias', cfg.vocabSize);
  r.checkAllUsed(cfg, (name) => MARIAN_COPIES.test(name));
  return p;
}

// ---------------------------------------------------------------------------------------------

/**
 * Per family: the prefixes its tensor names are tried with (published files carry them or not:
 * GPT-2's `transformer.`, Llama's `model.`, BERT's `bert.`, …) and the reader of its names.
 */
const FAMILIES: Record<
  Family,
  { prefixes: string[]; read: (r: TensorReader, cfg: ModelConfig) => ModelParams }
> = {
  gpt2: { prefixes: ['', 'transformer.'], read: gpt2Params },
  'attention-lab': { prefixes: [''], read: gpt2Params },
  marian: { prefixes: [''], read: marianParams },
  llama: { prefixes: LLAMA_PREFIXES, read: llamaParams },
  qwen2: { prefixes: LLAMA_PREFIXES, read: llamaParams },
  'gpt-neo': { prefixes: GPT_NEO_PREFIXES, read: gptNeoParams },
  bert: { prefixes: BERT_PREFIXES, read: bertParams },
  distilbert: { prefixes: DISTILBERT_PREFIXES, read: distilBertParams },
};

/**
 * Build a model from a parsed `config.json` and the bytes of `model.safetensors` (or a file
 * already parsed: merged shards, a `pytorch_model.bin` — see docs/checkpoints.md). Throws
 * ConfigError, SafetensorsError or CheckpointError with a message meant for the user; nothing
 * stays allocated on failure.
 */
export function loadCheckpoint(
  configJson: unknown,
  safetensors: Uint8Array | SafetensorsFile,
  onProgress?: (loaded: number, total: number) => void,
): Model {
  const config = parseConfig(configJson);
  const file = safetensors instanceof Uint8Array ? parseSafetensors(safetensors) : safetensors;
  const { prefixes, read } = FAMILIES[config.family];
  const reader = new TensorReader(file, prefixes, onProgress);
  // tidy frees every tensor already uploaded if a later one turns out missing or misshapen.
  const params = tf.tidy(
    () => read(reader, config) as unknown as tf.TensorContainer,
  ) as unknown as ModelParams;
  return { config, params };
}
