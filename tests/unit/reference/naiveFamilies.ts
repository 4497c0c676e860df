/**
 * The independent float64 reference for the Hugging Face families the lab reads besides GPT-2
 * and Marian: Llama, Qwen2, GPT-Neo, BERT and DistilBERT. Plain loops over numbers, reading the
 * published `config.json` keys and tensor names directly (not src/model's config or loaders),
 * written from the transformers 5.17.0 modeling code, whose files and lines are cited where
 * each step is taken:
 *  - models/llama/modeling_llama.py: LlamaRMSNorm (53–67), LlamaRotaryEmbedding's
 *    default inv_freq θ^(−2i/d) and cat(freqs, freqs) (97–127), rotate_half (130–134),
 *    apply_rotary_pos_emb (138–160), LlamaMLP down(act(gate(x)) · up(x)) (163–176),
 *    repeat_kv (179–188), scaling head_dim^−0.5 (226), the final `self.norm` (413);
 *  - models/qwen2/modeling_qwen2.py: q/k/v with bias, o_proj without (189–192);
 *  - models/gpt_neo/modeling_gpt_neo.py: the local window `bias ^ tril(bias, −window_size)`
 *    (57–66), q/k/v without bias and out_proj with (84–87), unscaled q·kᵀ (110), GPTNeoMLP
 *    (295–309), wte + wpe (463), ln_f before the last hidden state (492–497);
 *    configuration_gpt_neo.py: expand_attention_types_params (92–97);
 *  - models/bert/modeling_bert.py: embeddings word + token type + position, then LayerNorm
 *    (98–106), post-norm BertSelfOutput / BertOutput (282–292, 340–350),
 *    BertPredictionHeadTransform and BertLMPredictionHead (466–496), tied keys (910–913);
 *  - models/distilbert/modeling_distilbert.py: Embeddings (82–116), eps 1e-12 (88, 236–239),
 *    sa_layer_norm / output_layer_norm (253, 257), the MLM head (430–439, 510–513).
 * It answers in the layout of `traceToReferenceJson`.
 */
import type { HeadRef } from '../../../src/model/model';
import { activate, addVectors, dot, moments, sum, type Weights } from './naive';

type Vector = number[];
type Matrix = number[][];

export interface FamilyInput {
  ids: number[];
  /** BERT's segment ids (default all 0). */
  tokenTypeIds?: number[];
}

export interface FamilyOptions {
  /** Decoders: the causal mask (default on). */
  causalMask?: boolean;
  /** Encoder-only models: a causal mask as the experiment (default off). */
  causalEncoder?: boolean;
  usePositions?: boolean;
  ablatedHeads?: HeadRef[];
}

type Json = Record<string, unknown>;

/** Tensors by name, tried with each of the family's prefixes. */
class Tensors {
  constructor(
    private weights: Weights,
    private prefixes: string[],
  ) {}

  has(name: string): boolean {
    return this.prefixes.some((p) => p + name in this.weights);
  }

  private get(name: string): { shape: number[]; data: ArrayLike<number> } {
    for (const p of this.prefixes) if (p + name in this.weights) return this.weights[p + name];
    throw new Error(`reference: no tensor "${name}"`);
  }

  vector(name: string): Vector {
    const t = this.get(name);
    if (t.shape.length !== 1) throw new Error(`reference: "${name}" is not a vector`);
    return Array.from(t.data);
  }

  /** `[rows][cols]` as stored. */
  matrix(name: string): Matrix {
    const t = this.get(name);
    if (t.shape.length !== 2) throw new Error(`reference: "${name}" is not a matrix`);
    const [rows, cols] = t.shape;
    return Array.from({ length: rows }, (_, i) =>
      Array.from({ length: cols }, (_, j) => t.data[i * cols + j]),
    );
  }
}

/** nn.Linear: y = W x + b with W stored `[out][in]`. */
function torchLinear(x: Vector, w: Matrix, b?: Vector): Vector {
  return w.map((row, o) => dot(row, x) + (b ? b[o] : 0));
}

function layerNorm(x: Vector, gamma: Vector, beta: Vector, eps: number): Vector {
  const { mean, variance } = moments(x);
  return x.map((v, c) => (gamma[c] * (v - mean)) / Math.sqrt(variance + eps) + beta[c]);
}

/** LlamaRMSNorm: γ · x / √(mean(x²) + ε). */
function rmsNorm(x: Vector, gamma: Vector, eps: number): Vector {
  const rms = Math.sqrt(sum(x.map((v) => v * v)) / x.length + eps);
  return x.map((v, c) => (gamma[c] * v) / rms);
}

/** apply_rotary_pos_emb at position `pos`: x·cos + rotate_half(x)·sin, rotate_half(x) = (−x₂, x₁). */
function rope(x: Vector, pos: number, theta: number): Vector {
  const d = x.length;
  const half = d / 2;
  return x.map((v, m) => {
    const i = m % half;
    const angle = pos * theta ** ((-2 * i) / d);
    const rotated = m < half ? -x[m + half] : x[m - half];
    return v * Math.cos(angle) + rotated * Math.sin(angle);
  });
}

interface Family {
  kind: 'llama' | 'qwen2' | 'gpt_neo' | 'bert' | 'distilbert';
  d: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  layers: number;
  eps: number;
  act: 'gelu' | 'gelu_new' | 'relu' | 'swish';
  tied: boolean;
  theta: number;
  /** Per layer: null (global) or the window of a local layer. */
  windows: (number | null)[];
}

function need<T>(c: Json, key: string): T {
  if (c[key] === undefined) throw new Error(`reference: config.json lacks "${key}"`);
  return c[key] as T;
}

const ACT: Record<string, Family['act']> = {
  gelu: 'gelu',
  gelu_new: 'gelu_new',
  silu: 'swish',
  relu: 'relu',
};

function readFamily(c: Json): Family {
  const kind = need<Family['kind']>(c, 'model_type');
  switch (kind) {
    case 'llama':
    case 'qwen2': {
      const d = need<number>(c, 'hidden_size');
      const heads = need<number>(c, 'num_attention_heads');
      const layers = need<number>(c, 'num_hidden_layers');
      const params = c.rope_parameters as Json | undefined;
      return {
        kind,
        d,
        heads,
        kvHeads: need(c, 'num_key_value_heads'),
        headDim: (c.head_dim as number | undefined) ?? d / heads,
        layers,
        eps: need(c, 'rms_norm_eps'),
        act: ACT[need<string>(c, 'hidden_act')],
        tied: need(c, 'tie_word_embeddings'),
        theta: params ? need(params, 'rope_theta') : need(c, 'rope_theta'),
        windows: new Array<null>(layers).fill(null),
      };
    }
    case 'gpt_neo': {
      const d = need<number>(c, 'hidden_size');
      const heads = need<number>(c, 'num_heads');
      // expand_attention_types_params
      const types = need<[string[], number][]>(c, 'attention_types').flatMap(([pattern, n]) =>
        Array.from({ length: n }, () => pattern).flat(),
      );
      return {
        kind,
        d,
        heads,
        kvHeads: heads,
        headDim: d / heads,
        layers: need(c, 'num_layers'),
        eps: need(c, 'layer_norm_epsilon'),
        act: ACT[need<string>(c, 'activation_function')],
        tied: need(c, 'tie_word_embeddings'),
        theta: 0,
        windows: types.map((t) => (t === 'local' ? need<number>(c, 'window_size') : null)),
      };
    }
    case 'bert':
    case 'distilbert': {
      const bert = kind === 'bert';
      const d = need<number>(c, bert ? 'hidden_size' : 'dim');
      const heads = need<number>(c, bert ? 'num_attention_heads' : 'n_heads');
      const layers = need<number>(c, bert ? 'num_hidden_layers' : 'n_layers');
      return {
        kind,
        d,
        heads,
        kvHeads: heads,
        headDim: d / heads,
        layers,
        eps: bert ? need(c, 'layer_norm_eps') : 1e-12,
        act: ACT[need<string>(c, bert ? 'hidden_act' : 'activation')],
        tied: need(c, 'tie_word_embeddings'),
        theta: 0,
        windows: new Array<null>(layers).fill(null),
      };
    }
    default:
      throw new Error(`reference: model_type ${JSON.stringify(kind)} is not one of these families`);
  }
}

const PREFIXES: Record<Family['kind'], string[]> = {
  llama: ['model.', ''],
  qwen2: ['model.', ''],
  gpt_neo: ['transformer.', ''],
  bert: ['bert.', ''],
  distilbert: ['distilbert.', ''],
};

/** Names of one layer's tensors, per family. */
function layerNames(f: Family, i: number) {
  switch (f.kind) {
    case 'llama':
    case 'qwen2': {
      const l = `layers.${i}`;
      return {
        q: `${l}.self_attn.q_proj`,
        k: `${l}.self_attn.k_proj`,
        v: `${l}.self_attn.v_proj`,
        o: `${l}.self_attn.o_proj`,
        ln1: `${l}.input_layernorm`,
        ln2: `${l}.post_attention_layernorm`,
        up: `${l}.mlp.up_proj`,
        gate: `${l}.mlp.gate_proj`,
        down: `${l}.mlp.down_proj`,
      };
    }
    case 'gpt_neo': {
      const h = `h.${i}`;
      return {
        q: `${h}.attn.attention.q_proj`,
        k: `${h}.attn.attention.k_proj`,
        v: `${h}.attn.attention.v_proj`,
        o: `${h}.attn.attention.out_proj`,
        ln1: `${h}.ln_1`,
        ln2: `${h}.ln_2`,
        up: `${h}.mlp.c_fc`,
        down: `${h}.mlp.c_proj`,
      };
    }
    case 'bert': {
      const l = `encoder.layer.${i}`;
      return {
        q: `${l}.attention.self.query`,
        k: `${l}.attention.self.key`,
        v: `${l}.attention.self.value`,
        o: `${l}.attention.output.dense`,
        ln1: `${l}.attention.output.LayerNorm`,
        ln2: `${l}.output.LayerNorm`,
        up: `${l}.intermediate.dense`,
        down: `${l}.output.dense`,
      };
    }
    case 'distilbert': {
      const l = `transformer.layer.${i}`;
      return {
        q: `${l}.attention.q_lin`,
        k: `${l}.attention.k_lin`,
        v: `${l}.attention.v_lin`,
        o: `${l}.attention.out_lin`,
        ln1: `${l}.sa_layer_norm`,
        ln2: `${l}.output_layer_norm`,
        up: `${l}.ffn.lin1`,
        down: `${l}.ffn.lin2`,
      };
    }
  }
}

class FamilyReference {
  private t: Tensors;
  readonly attentions: number[][][][] = [];

  constructor(
    readonly f: Family,
    weights: Weights,
    private opts: FamilyOptions,
  ) {
    this.t = new Tensors(weights, PREFIXES[f.kind]);
  }

  private get encoder(): boolean {
    return this.f.kind === 'bert' || this.f.kind === 'distilbert';
  }

  private linear(rows: Matrix, name: string): Matrix {
    const w = this.t.matrix(`${name}.weight`);
    const b = this.t.has(`${name}.bias`) ? this.t.vector(`${name}.bias`) : undefined;
    return rows.map((x) => torchLinear(x, w, b));
  }

  /** LayerNorm or RMSNorm, as the family has it. */
  private norm(rows: Matrix, name: string): Matrix {
    const gamma = this.t.vector(`${name}.weight`);
    if (this.f.kind === 'llama' || this.f.kind === 'qwen2')
      return rows.map((x) => rmsNorm(x, gamma, this.f.eps));
    const beta = this.t.vector(`${name}.bias`);
    return rows.map((x) => layerNorm(x, gamma, beta, this.f.eps));
  }

  embed(input: FamilyInput): Matrix {
    const positions = this.opts.usePositions !== false;
    const { ids } = input;
    switch (this.f.kind) {
      case 'llama':
      case 'qwen2': {
        const e = this.t.matrix('embed_tokens.weight');
        return ids.map((id) => e[id].slice());
      }
      case 'gpt_neo': {
        const e = this.t.matrix('wte.weight');
        const p = this.t.matrix('wpe.weight');
        return ids.map((id, t) => (positions ? addVectors(e[id], p[t]) : e[id].slice()));
      }
      case 'bert':
      case 'distilbert': {
        const e = this.t.matrix('embeddings.word_embeddings.weight');
        const p = this.t.matrix('embeddings.position_embeddings.weight');
        const types =
          this.f.kind === 'bert' ? this.t.matrix('embeddings.token_type_embeddings.weight') : null;
        const x = ids.map((id, t) => {
          let row = e[id].slice();
          if (types) row = addVectors(row, types[input.tokenTypeIds?.[t] ?? 0]);
          return positions ? addVectors(row, p[t]) : row;
        });
        return this.norm(x, 'embeddings.LayerNorm');
      }
    }
  }

  private allowed(layer: number, i: number, j: number): boolean {
    const causal = this.encoder ? this.opts.causalEncoder === true : this.opts.causalMask !== false;
    const w = this.f.windows[layer];
    return (!causal || j <= i) && (w === null || Math.abs(i - j) < w);
  }

  private attention(layer: number, x: Matrix, names: ReturnType<typeof layerNames>): Matrix {
    const { heads, kvHeads, headDim, kind } = this.f;
    const q = this.linear(x, names.q);
    const k = this.linear(x, names.k);
    const v = this.linear(x, names.v);
    const rotary = (kind === 'llama' || kind === 'qwen2') && this.opts.usePositions !== false;
    const head = (rows: Matrix, h: number, rotate: boolean) =>
      rows.map((r, t) => {
        const part = r.slice(h * headDim, (h + 1) * headDim);
        return rotate ? rope(part, t, this.f.theta) : part;
      });
    const scale = kind === 'gpt_neo' ? 1 : 1 / Math.sqrt(headDim);
    const ablated = (h: number) =>
      (this.opts.ablatedHeads ?? []).some((a) => a.layer === layer && a.head === h);
    const concat: Matrix = x.map(() => []);
    const probsOfLayer: number[][][] = [];
    for (let h = 0; h < heads; h++) {
      const kv = Math.floor(h / (heads / kvHeads)); // repeat_kv
      const qh = head(q, h, rotary);
      const kh = head(k, kv, rotary);
      const vh = head(v, kv, false);
      const probs = qh.map((qi, i) => {
        const s = kh.map((kj) => dot(qi, kj) * scale);
        const allowed = s.map((_, j) => this.allowed(layer, i, j));
        const max = Math.max(...s.filter((_, j) => allowed[j]));
        const e = s.map((sj, j) => (allowed[j] ? Math.exp(sj - max) : 0));
        const z = sum(e);
        return e.map((ej) => ej / z);
      });
      probsOfLayer.push(probs);
      const gate = ablated(h) ? 0 : 1;
      probs.forEach((pi, i) => {
        for (let c = 0; c < headDim; c++)
          concat[i].push(gate * sum(pi.map((pij, j) => pij * vh[j][c])));
      });
    }
    this.attentions.push(probsOfLayer);
    return this.linear(concat, names.o);
  }

  private mlp(x: Matrix, names: ReturnType<typeof layerNames>): Matrix {
    const act = (rows: Matrix) => rows.map((r) => r.map((z) => activate(z, this.f.act)));
    if (names.gate) {
      const gate = act(this.linear(x, names.gate));
      const up = this.linear(x, names.up);
      return this.linear(
        gate.map((g, t) => g.map((gi, c) => gi * up[t][c])),
        names.down,
      );
    }
    return this.linear(act(this.linear(x, names.up)), names.down);
  }

  /** Hidden states as output_hidden_states lists them. */
  forward(input: FamilyInput): Matrix[] {
    let x = this.embed(input);
    const hidden = [x];
    const add = (a: Matrix, b: Matrix) => a.map((r, t) => addVectors(r, b[t]));
    for (let i = 0; i < this.f.layers; i++) {
      const names = layerNames(this.f, i);
      if (this.encoder) {
        x = this.norm(add(x, this.attention(i, x, names)), names.ln1);
        x = this.norm(add(x, this.mlp(x, names)), names.ln2);
      } else {
        x = add(x, this.attention(i, this.norm(x, names.ln1), names));
        x = add(x, this.mlp(this.norm(x, names.ln2), names));
      }
      hidden.push(x);
    }
    if (!this.encoder)
      hidden[hidden.length - 1] = this.norm(x, this.f.kind === 'gpt_neo' ? 'ln_f' : 'norm');
    return hidden;
  }

  logits(h: Matrix): Matrix {
    const t = this.t;
    switch (this.f.kind) {
      case 'llama':
      case 'qwen2':
      case 'gpt_neo': {
        const embedding = this.f.kind === 'gpt_neo' ? 'wte.weight' : 'embed_tokens.weight';
        const head = t.matrix(this.f.tied ? embedding : 'lm_head.weight');
        return h.map((r) => torchLinear(r, head));
      }
      case 'bert': {
        const z = this.transform(
          h,
          'cls.predictions.transform.dense',
          'cls.predictions.transform.LayerNorm',
        );
        return this.decode(z, 'cls.predictions.decoder.weight', 'cls.predictions.bias');
      }
      case 'distilbert': {
        const z = this.transform(h, 'vocab_transform', 'vocab_layer_norm');
        return this.decode(z, 'vocab_projector.weight', 'vocab_projector.bias');
      }
    }
  }

  /** The MLM head's transform: LayerNorm(act(dense(h))). */
  private transform(h: Matrix, dense: string, norm: string): Matrix {
    const z = this.linear(h, dense).map((r) => r.map((v) => activate(v, this.f.act)));
    return this.norm(z, norm);
  }

  /** The MLM decoder, tied to the word embeddings or not, with its own bias. */
  private decode(z: Matrix, untied: string, bias: string): Matrix {
    const head = this.t.matrix(this.f.tied ? 'embeddings.word_embeddings.weight' : untied);
    const b = this.t.vector(bias);
    return z.map((r) => torchLinear(r, head, b));
  }
}

/** The reference forward of a Llama / Qwen2 / GPT-Neo / BERT / DistilBERT checkpoint. */
export function familyReferenceForward(
  configJson: Json,
  weights: Weights,
  input: FamilyInput,
  opts: FamilyOptions = {},
): Record<string, unknown> {
  const ref = new FamilyReference(readFamily(configJson), weights, opts);
  const hidden = ref.forward(input);
  return {
    input_ids: input.ids,
    ...(ref.f.kind === 'bert'
      ? { token_type_ids: input.tokenTypeIds ?? input.ids.map(() => 0) }
      : {}),
    attentions: ref.attentions,
    hidden_states: hidden,
    logits: ref.logits(hidden[hidden.length - 1]),
  };
}
