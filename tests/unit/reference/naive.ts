/**
 * An independent reference transformer for the unit tests: plain loops over float64 numbers, no
 * tfjs, written from the lecture's formulas rather than from src/model. It reads the project's
 * own `attention-lab` config.json and GPT-2-style tensor names (docs/model-format.md) and answers
 * in the layout of `traceToReferenceJson`, plus what that layout leaves out (every LayerNorm's
 * input and output statistics, residual norms, raw scores, positions, per-head q/k/v), so that a
 * comparison with the traced forward is a single loop over keys.
 *
 * It takes no defaults from the config: every key must be spelled out, so that a default chosen
 * by the loader cannot silently become the reference's too.
 */
import type { HeadRef } from '../../../src/model/model';

type Vector = number[];
/** `[rows][cols]` */
type Matrix = number[][];

export interface HostTensor {
  shape: number[];
  data: ArrayLike<number>;
}
export type Weights = Record<string, HostTensor>;

export interface ReferenceInput {
  ids: number[];
  sourceIds?: number[];
}

export interface ReferenceOptions {
  /** Causal mask on decoder self-attention (default true). */
  causalMask?: boolean;
  /** Add positional information (default true). */
  usePositions?: boolean;
  ablatedHeads?: HeadRef[];
  /** Also report q, k, v and head outputs per attention. */
  captureQKV?: boolean;
  /** Activation patching (naiveInterp.ts): a value from another run, at one layer. */
  patch?: ReferencePatch;
}

/** At decoder block `layer`: one head's outputs `[T][d/h]`, or its input's row at `position`. */
export interface ReferencePatch {
  layer: number;
  head?: { head: number; outputs: Matrix };
  residual?: { position: number; row: Vector };
}

export interface Config {
  architecture: 'decoder-only' | 'encoder-only' | 'encoder-decoder';
  vocab: number;
  d: number;
  heads: number;
  layers: number;
  encoderLayers: number;
  dff: number;
  context: number;
  norm: 'pre' | 'post';
  positions: 'learned' | 'sinusoidal' | 'sinusoidal-split' | 'none';
  activation: 'gelu_new' | 'gelu' | 'relu' | 'swish';
  eps: number;
  scaleEmbedding: boolean;
  finalNorm: boolean;
  attentionBias: boolean;
  attentionOnly: boolean;
  tied: boolean;
}

function readConfig(json: Record<string, unknown>): Config {
  const get = <T>(key: string): T => {
    if (!(key in json)) throw new Error(`reference: config.json must spell out "${key}"`);
    return json[key] as T;
  };
  if (get('model_type') !== 'attention-lab') throw new Error('reference: attention-lab only');
  const architecture = get<Config['architecture']>('architecture');
  const cfg: Config = {
    architecture,
    vocab: get('vocab_size'),
    d: get('n_embd'),
    heads: get('n_head'),
    layers: get('n_layer'),
    encoderLayers: architecture === 'encoder-decoder' ? get('n_encoder_layer') : 0,
    dff: get('n_inner'),
    context: get('n_positions'),
    norm: get('norm_placement'),
    positions: get('position_embedding'),
    activation: get('activation_function'),
    eps: get('layer_norm_epsilon'),
    scaleEmbedding: get('scale_embedding'),
    finalNorm: get('final_layer_norm'),
    attentionBias: get('attention_bias'),
    attentionOnly: get('attention_only'),
    tied: get('tie_word_embeddings'),
  };
  if (cfg.d % 2 !== 0 || cfg.d % cfg.heads !== 0) {
    throw new Error('reference: n_embd must be even and divisible by n_head');
  }
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// Elementary maths

export const sum = (xs: Vector): number => xs.reduce((a, b) => a + b, 0);
export const dot = (a: Vector, b: Vector): number => a.reduce((s, x, i) => s + x * b[i], 0);
export const addVectors = (a: Vector, b: Vector): Vector => a.map((x, i) => x + b[i]);

/** x W + b for one row x `[in]`, W `[in][out]`. */
function affine(x: Vector, w: Matrix, b?: Vector): Vector {
  const out = b ? b.slice() : new Array<number>(w[0].length).fill(0);
  for (let i = 0; i < x.length; i++) {
    for (let j = 0; j < out.length; j++) out[j] += x[i] * w[i][j];
  }
  return out;
}

interface Projection {
  w: Matrix;
  b?: Vector;
}

const project = (rows: Matrix, p: Projection): Matrix => rows.map((x) => affine(x, p.w, p.b));

/** erf(x) = 2/√π · e^(−x²) · Σₙ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)): positive terms, no cancellation. */
export function erf(x: number): number {
  if (Math.abs(x) > 6) return Math.sign(x); // 1 − erf(6) ≈ 2e−17
  let term = x;
  let total = x;
  for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(total); n++) {
    term *= (2 * x * x) / (2 * n + 1);
    total += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * total;
}

export function activate(x: number, fn: Config['activation']): number {
  switch (fn) {
    case 'gelu_new':
      return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    case 'gelu':
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'relu':
      return Math.max(0, x);
    case 'swish':
      return x / (1 + Math.exp(-x));
  }
}

/** Mean and biased variance over the features of one token. */
export function moments(x: Vector): { mean: number; variance: number } {
  const mean = sum(x) / x.length;
  return { mean, variance: sum(x.map((v) => (v - mean) ** 2)) / x.length };
}

/**
 * Positional encoding of position `pos`: frequency ωᵢ = 1 / 10000^(2i/d) for i = 0 … d/2 − 1;
 * interleaved PE(pos, 2i) = sin(pos ωᵢ), PE(pos, 2i+1) = cos(pos ωᵢ); split: sines in columns
 * 0 … d/2 − 1, cosines in d/2 … d − 1.
 */
export function sinusoid(
  pos: number,
  d: number,
  layout: 'sinusoidal' | 'sinusoidal-split',
): Vector {
  const out = new Array<number>(d).fill(0);
  for (let i = 0; i < d / 2; i++) {
    const angle = pos / 10000 ** ((2 * i) / d);
    if (layout === 'sinusoidal') {
      out[2 * i] = Math.sin(angle);
      out[2 * i + 1] = Math.cos(angle);
    } else {
      out[i] = Math.sin(angle);
      out[d / 2 + i] = Math.cos(angle);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parameters under GPT-2 names

class ParameterReader {
  constructor(private weights: Weights) {}

  private values(name: string, shape: number[]): ArrayLike<number> {
    const t = this.weights[name];
    if (!t) throw new Error(`reference: no tensor "${name}"`);
    if (t.shape.join() !== shape.join()) {
      throw new Error(`reference: "${name}" is [${t.shape}], expected [${shape}]`);
    }
    return t.data;
  }

  vector(name: string, n: number): Vector {
    return Array.from(this.values(name, [n]));
  }

  matrix(name: string, rows: number, cols: number): Matrix {
    const v = this.values(name, [rows, cols]);
    return Array.from({ length: rows }, (_, i) =>
      Array.from({ length: cols }, (_, j) => v[i * cols + j]),
    );
  }

  /** A fused Conv1D `[d, n·d]` (and bias `[n·d]`) as n projections: columns [k·d, (k+1)·d). */
  fused(name: string, d: number, n: number, bias: boolean): Projection[] {
    const w = this.matrix(`${name}.weight`, d, n * d);
    const b = bias ? this.vector(`${name}.bias`, n * d) : undefined;
    return Array.from({ length: n }, (_, k) => ({
      w: w.map((r) => r.slice(k * d, (k + 1) * d)),
      ...(b ? { b: b.slice(k * d, (k + 1) * d) } : {}),
    }));
  }

  projection(name: string, inp: number, out: number, bias: boolean): Projection {
    return {
      w: this.matrix(`${name}.weight`, inp, out),
      ...(bias ? { b: this.vector(`${name}.bias`, out) } : {}),
    };
  }

  norm(name: string, d: number): { gamma: Vector; beta: Vector } {
    return { gamma: this.vector(`${name}.weight`, d), beta: this.vector(`${name}.bias`, d) };
  }
}

// ---------------------------------------------------------------------------------------------
// The forward pass

interface AttentionRecord {
  scores: number[][][];
  probs: number[][][];
  q: number[][][];
  k: number[][][];
  v: number[][][];
  headOutputs: number[][][];
  /** ‖v_j W_O^h‖: key j's value through head h's rows of the output projection, `[h][j]`. */
  valueNorms: number[][];
}

interface NormRecord {
  input_mean: number[];
  input_var: number[];
  output_mean: number[];
  output_var: number[];
}

/**
 * Multi-head attention from its definition: per head h, e_ij = q_i·k_j / √(d/h) over the head's
 * slice of the projections, p_i = softmax over the allowed keys (the others get exactly 0),
 * o_i = gate_h Σ_j p_ij v_j; heads are concatenated and projected by W_O.
 */
function attention(
  xq: Matrix,
  xkv: Matrix,
  p: { q: Projection; k: Projection; v: Projection; o: Projection },
  heads: number,
  allowed: (i: number, j: number) => boolean,
  gate: number[],
  replace?: ReferencePatch['head'],
): { out: Matrix; record: AttentionRecord } {
  const q = project(xq, p.q);
  const k = project(xkv, p.k);
  const v = project(xkv, p.v);
  const dh = q[0].length / heads;
  const slice = (rows: Matrix, h: number) => rows.map((r) => r.slice(h * dh, (h + 1) * dh));
  const record: AttentionRecord = {
    scores: [],
    probs: [],
    q: [],
    k: [],
    v: [],
    headOutputs: [],
    valueNorms: [],
  };
  const concat: Matrix = xq.map(() => []);
  for (let h = 0; h < heads; h++) {
    const qh = slice(q, h);
    const kh = slice(k, h);
    const vh = slice(v, h);
    const scores = qh.map((qi) => kh.map((kj) => dot(qi, kj) / Math.sqrt(dh)));
    const probs = scores.map((row, i) => {
      const max = Math.max(...row.filter((_, j) => allowed(i, j)));
      const e = row.map((s, j) => (allowed(i, j) ? Math.exp(s - max) : 0));
      const z = sum(e);
      return e.map((x) => x / z);
    });
    const outputs =
      replace?.head === h
        ? replace.outputs
        : probs.map((pi) =>
            Array.from({ length: dh }, (_, c) => gate[h] * sum(pi.map((pij, j) => pij * vh[j][c]))),
          );
    outputs.forEach((o, i) => concat[i].push(...o));
    record.scores.push(scores);
    record.probs.push(probs);
    record.q.push(qh);
    record.k.push(kh);
    record.v.push(vh);
    record.headOutputs.push(outputs);
    const wOh = p.o.w.slice(h * dh, (h + 1) * dh);
    record.valueNorms.push(vh.map((vj) => Math.sqrt(sum(affine(vj, wOh).map((x) => x * x)))));
  }
  return { out: project(concat, p.o), record };
}

type StackName = 'encoder' | 'decoder';

class Reference {
  private readonly r: ParameterReader;
  readonly lnStats: Record<string, NormRecord> = {};
  readonly residualNorms: Record<string, number[]> = {};
  /** Every residual point in full, `[T][d]`, by the same names. */
  readonly residuals: Record<string, Matrix> = {};
  readonly attentions: Record<string, AttentionRecord> = {};
  readonly positions: Record<string, Matrix> = {};

  constructor(
    readonly cfg: Config,
    weights: Weights,
    private opts: ReferenceOptions,
  ) {
    this.r = new ParameterReader(weights);
  }

  private prefix(stack: StackName): string {
    return this.cfg.architecture === 'encoder-decoder' ? `${stack}.` : '';
  }

  /** x₀[t] = E[id_t] (· √d when scaled) + P[t]. */
  embed(stack: StackName, ids: number[]): Matrix {
    const { d, vocab, positions } = this.cfg;
    const table = this.r.matrix('wte.weight', vocab, d);
    const scale = this.cfg.scaleEmbedding ? Math.sqrt(d) : 1;
    const x = ids.map((id) => table[id].map((e) => e * scale));
    if (positions === 'none' || this.opts.usePositions === false) return x;
    const pe =
      positions === 'learned'
        ? this.r.matrix('wpe.weight', this.cfg.context, d).slice(0, ids.length)
        : ids.map((_, t) => sinusoid(t, d, positions));
    this.positions[stack] = pe;
    return x.map((row, t) => addVectors(row, pe[t]));
  }

  private layerNorm(name: string, x: Matrix): Matrix {
    const { gamma, beta } = this.r.norm(name, this.cfg.d);
    const y = x.map((row) => {
      const { mean, variance } = moments(row);
      return row.map(
        (v, c) => (gamma[c] * (v - mean)) / Math.sqrt(variance + this.cfg.eps) + beta[c],
      );
    });
    const inStats = x.map(moments);
    const outStats = y.map(moments);
    this.lnStats[name] = {
      input_mean: inStats.map((s) => s.mean),
      input_var: inStats.map((s) => s.variance),
      output_mean: outStats.map((s) => s.mean),
      output_var: outStats.map((s) => s.variance),
    };
    return y;
  }

  private gate(stack: StackName, layer: number, kind: 'self' | 'cross'): number[] {
    return Array.from({ length: this.cfg.heads }, (_, h) =>
      (this.opts.ablatedHeads ?? []).some(
        (a) =>
          a.stack === stack &&
          a.layer === layer &&
          a.head === h &&
          (a.attention ?? 'self') === kind,
      )
        ? 0
        : 1,
    );
  }

  /** Pre-norm: x + f(LN(x)). Post-norm: LN(x + f(x)). */
  private subLayer(lnName: string, x: Matrix, f: (h: Matrix) => Matrix): Matrix {
    if (this.cfg.norm === 'pre') {
      const fx = f(this.layerNorm(lnName, x));
      return x.map((row, t) => addVectors(row, fx[t]));
    }
    const fx = f(x);
    return this.layerNorm(
      lnName,
      x.map((row, t) => addVectors(row, fx[t])),
    );
  }

  private residual(name: string, x: Matrix): void {
    this.residualNorms[name] = x.map((row) => Math.sqrt(dot(row, row)));
    this.residuals[name] = x;
  }

  private block(
    stack: StackName,
    layer: number,
    x: Matrix,
    causal: boolean,
    memory?: Matrix,
  ): Matrix {
    const { d, heads, dff, attentionBias: bias } = this.cfg;
    const h = `${this.prefix(stack)}h.${layer}`;
    const patch = stack === 'decoder' && this.opts.patch?.layer === layer ? this.opts.patch : null;
    const row = patch?.residual;
    if (row) x = x.map((r, t) => (t === row.position ? row.row : r));
    this.residual(`${h}.input`, x);
    const [q, k, v] = this.r.fused(`${h}.attn.c_attn`, d, 3, bias);
    const o = this.r.projection(`${h}.attn.c_proj`, d, d, bias);
    x = this.subLayer(`${h}.ln_1`, x, (hx) => {
      const a = attention(
        hx,
        hx,
        { q, k, v, o },
        heads,
        (i, j) => !causal || j <= i,
        this.gate(stack, layer, 'self'),
        patch?.head,
      );
      this.attentions[`${h}.self`] = a.record;
      return a.out;
    });
    this.residual(`${h}.after-attention`, x);
    if (memory) {
      const cq = this.r.projection(`${h}.crossattention.q_attn`, d, d, bias);
      const [ck, cv] = this.r.fused(`${h}.crossattention.c_attn`, d, 2, bias);
      const co = this.r.projection(`${h}.crossattention.c_proj`, d, d, bias);
      x = this.subLayer(`${h}.ln_cross_attn`, x, (hx) => {
        const a = attention(
          hx,
          memory,
          { q: cq, k: ck, v: cv, o: co },
          heads,
          () => true,
          this.gate(stack, layer, 'cross'),
        );
        this.attentions[`${h}.cross`] = a.record;
        return a.out;
      });
      this.residual(`${h}.after-cross-attention`, x);
    }
    if (!this.cfg.attentionOnly) {
      const fc = this.r.projection(`${h}.mlp.c_fc`, d, dff, true);
      const proj = this.r.projection(`${h}.mlp.c_proj`, dff, d, true);
      x = this.subLayer(`${h}.ln_2`, x, (hx) =>
        project(
          project(hx, fc).map((row) => row.map((z) => activate(z, this.cfg.activation))),
          proj,
        ),
      );
      this.residual(`${h}.after-mlp`, x);
    }
    return x;
  }

  /** Hidden states as Hugging Face lists them: embeddings, each block, the last after ln_f. */
  stack(stack: StackName, ids: number[], causal: boolean, memory?: Matrix): Matrix[] {
    const layers =
      stack === 'encoder' && this.cfg.architecture === 'encoder-decoder'
        ? this.cfg.encoderLayers
        : this.cfg.layers;
    let x = this.embed(stack, ids);
    const hidden = [x];
    for (let i = 0; i < layers; i++) {
      x = this.block(stack, i, x, causal, memory);
      hidden.push(x);
    }
    if (this.cfg.finalNorm)
      hidden[hidden.length - 1] = this.layerNorm(`${this.prefix(stack)}ln_f`, x);
    return hidden;
  }

  /** logits[t][v] = h_t · E_v (tied) or h_t · lm_head_v. */
  logits(h: Matrix): Matrix {
    const { vocab, d } = this.cfg;
    const head = this.r.matrix(this.cfg.tied ? 'wte.weight' : 'lm_head.weight', vocab, d);
    return h.map((row) => head.map((e) => dot(row, e)));
  }

  attentionProbs(stack: StackName, kind: 'self' | 'cross', layers: number): number[][][][] {
    return Array.from(
      { length: layers },
      (_, i) => this.attentions[`${this.prefix(stack)}h.${i}.${kind}`].probs,
    );
  }
}

/**
 * The reference forward: the keys of `traceToReferenceJson` (logits of every position) plus
 * `ln_stats`, `residual_norms`, `scores`, `positions` and, with `captureQKV`, `qkv`.
 */
export function referenceForward(
  configJson: Record<string, unknown>,
  weights: Weights,
  input: ReferenceInput,
  opts: ReferenceOptions = {},
): Record<string, unknown> {
  const cfg = readConfig(configJson);
  const ref = new Reference(cfg, weights, opts);
  const causal = opts.causalMask ?? true;
  let main: Record<string, unknown>;
  if (cfg.architecture === 'encoder-decoder') {
    if (!input.sourceIds) throw new Error('reference: an encoder–decoder model needs sourceIds');
    const enc = ref.stack('encoder', input.sourceIds, false);
    const dec = ref.stack('decoder', input.ids, causal, enc[enc.length - 1]);
    main = {
      input_ids: input.sourceIds,
      decoder_input_ids: input.ids,
      encoder_attentions: ref.attentionProbs('encoder', 'self', cfg.encoderLayers),
      decoder_attentions: ref.attentionProbs('decoder', 'self', cfg.layers),
      cross_attentions: ref.attentionProbs('decoder', 'cross', cfg.layers),
      encoder_hidden_states: enc,
      decoder_hidden_states: dec,
      logits: ref.logits(dec[dec.length - 1]),
    };
  } else {
    const stack = cfg.architecture === 'encoder-only' ? 'encoder' : 'decoder';
    const hidden = ref.stack(stack, input.ids, stack === 'decoder' && causal);
    main = {
      input_ids: input.ids,
      attentions: ref.attentionProbs(stack, 'self', cfg.layers),
      hidden_states: hidden,
      logits: ref.logits(hidden[hidden.length - 1]),
      ln_input_stats: Object.fromEntries(
        Object.entries(ref.lnStats).map(([name, s]) => [
          name,
          { mean: s.input_mean, var: s.input_var },
        ]),
      ),
    };
  }
  const byName = <T>(f: (a: AttentionRecord) => T) =>
    Object.fromEntries(Object.entries(ref.attentions).map(([name, a]) => [name, f(a)]));
  return {
    ...main,
    ln_stats: ref.lnStats,
    residual_norms: ref.residualNorms,
    scores: byName((a) => a.scores),
    positions: ref.positions,
    qkv: opts.captureQKV
      ? byName((a) => ({
          q: a.q,
          k: a.k,
          v: a.v,
          head_outputs: a.headOutputs,
          value_norms: a.valueNorms,
        }))
      : {},
  };
}

/**
 * A decoder-only reference run with what the interpretability references read (naiveInterp.ts):
 * every residual point in full, every head's outputs, the logits of every position.
 */
export function referenceRecords(
  configJson: Record<string, unknown>,
  weights: Weights,
  ids: number[],
  opts: ReferenceOptions = {},
): { cfg: Config; residuals: Record<string, Matrix>; headOutputs: number[][][][]; logits: Matrix } {
  const cfg = readConfig(configJson);
  if (cfg.architecture !== 'decoder-only') throw new Error('reference: decoder-only records');
  const ref = new Reference(cfg, weights, { ...opts, captureQKV: true });
  const hidden = ref.stack('decoder', ids, opts.causalMask ?? true);
  return {
    cfg,
    residuals: ref.residuals,
    headOutputs: Array.from(
      { length: cfg.layers },
      (_, l) => ref.attentions[`h.${l}.self`].headOutputs,
    ),
    logits: ref.logits(hidden[hidden.length - 1]),
  };
}
