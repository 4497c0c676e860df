/**
 * Float64 references for the interpretability tools (src/model/analysis/), from their
 * definitions on top of the reference forward (naive.ts): the logit lens reads every residual
 * point through ln_f and the unembedding; direct logit attribution splits the final residual
 * into its writers and linearises ln_f at it; activation patching reruns the whole reference
 * with one value swapped in. Pre-norm `attention-lab` decoders with LayerNorm.
 */
import {
  dot,
  moments,
  referenceRecords,
  type Config,
  type ReferenceOptions,
  type Weights,
} from './naive';

/** The interventions the tools apply (causal mask, positions, ablated heads); default none. */
export type Interventions = Pick<ReferenceOptions, 'causalMask' | 'usePositions' | 'ablatedHeads'>;

type Vector = number[];
type Matrix = number[][];

function matrix(weights: Weights, name: string): Matrix {
  const t = weights[name];
  const [rows, cols] = t.shape;
  return Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => t.data[i * cols + j]),
  );
}

const vector = (weights: Weights, name: string): Vector => Array.from(weights[name].data);

function unembedding(cfg: Config, weights: Weights): Matrix {
  return matrix(weights, cfg.tied ? 'wte.weight' : 'lm_head.weight'); // [vocab][d]
}

/** Softmax of one row of logits. */
function softmax(row: Vector): Vector {
  const max = Math.max(...row);
  const e = row.map((v) => Math.exp(v - max));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

/** The residual point names of the lens, in the order of `residualPoints`. */
function pointNames(cfg: Config): string[] {
  const names = ['h.0.input'];
  for (let l = 0; l < cfg.layers; l++) {
    names.push(`h.${l}.after-attention`);
    if (!cfg.attentionOnly) names.push(`h.${l}.after-mlp`);
  }
  return names;
}

/** ln_f of one row (identity when the model has none). */
function finalNorm(cfg: Config, weights: Weights, x: Vector): Vector {
  if (!cfg.finalNorm) return x;
  const gamma = vector(weights, 'ln_f.weight');
  const beta = vector(weights, 'ln_f.bias');
  const { mean, variance } = moments(x);
  return x.map((v, i) => (gamma[i] * (v - mean)) / Math.sqrt(variance + cfg.eps) + beta[i]);
}

/** Probabilities `[points][T][vocab]` of every residual point read as the last. */
export function referenceLens(
  configJson: Record<string, unknown>,
  weights: Weights,
  ids: number[],
  iv: Interventions = {},
): number[][][] {
  const { cfg, residuals } = referenceRecords(configJson, weights, ids, iv);
  const u = unembedding(cfg, weights);
  return pointNames(cfg).map((name) =>
    residuals[name].map((x) => {
      const h = finalNorm(cfg, weights, x);
      return softmax(u.map((row) => dot(row, h)));
    }),
  );
}

export interface ReferenceAttribution {
  heads: Matrix; // [layers][heads]
  mlps: Vector; // [layers]
  embedding: number;
  biases: number;
  logit: number;
}

/** Direct logit attribution of `token` at `position` (see attribution.ts for the convention). */
export function referenceAttribution(
  configJson: Record<string, unknown>,
  weights: Weights,
  ids: number[],
  position: number,
  token: number,
  iv: Interventions = {},
): ReferenceAttribution {
  const { cfg, residuals, headOutputs, logits } = referenceRecords(configJson, weights, ids, iv);
  const u = unembedding(cfg, weights)[token];
  const last = `h.${cfg.layers - 1}.${cfg.attentionOnly ? 'after-attention' : 'after-mlp'}`;
  const r = residuals[last][position];
  const gamma = cfg.finalNorm ? vector(weights, 'ln_f.weight') : r.map(() => 1);
  const sigma = cfg.finalNorm ? Math.sqrt(moments(r).variance + cfg.eps) : 1;
  /** c's share: γ ⊙ (c − mean c) / σ · u (no centring without ln_f). */
  const share = (c: Vector) => {
    const mean = cfg.finalNorm ? moments(c).mean : 0;
    return c.reduce((s, ci, i) => s + (gamma[i] * (ci - mean) * u[i]) / sigma, 0);
  };
  const dh = cfg.d / cfg.heads;
  let biases = cfg.finalNorm ? dot(vector(weights, 'ln_f.bias'), u) : 0;
  const heads: Matrix = [];
  const mlps: Vector = [];
  for (let l = 0; l < cfg.layers; l++) {
    const wo = matrix(weights, `h.${l}.attn.c_proj.weight`); // [d][d]
    heads.push(
      headOutputs[l].map((outputs, h) => {
        const o = outputs[position];
        const written = wo[0].map((_, j) => o.reduce((s, oc, c) => s + oc * wo[h * dh + c][j], 0));
        return share(written);
      }),
    );
    if (cfg.attentionBias) biases += share(vector(weights, `h.${l}.attn.c_proj.bias`));
    if (!cfg.attentionOnly) {
      const before = residuals[`h.${l}.after-attention`][position];
      const after = residuals[`h.${l}.after-mlp`][position];
      mlps.push(share(after.map((a, i) => a - before[i])));
    }
  }
  return {
    heads,
    mlps,
    embedding: share(residuals['h.0.input'][position]),
    biases,
    logit: logits[position][token],
  };
}

/** answer − foil at the last position of a reference run of `ids` with `patch`. */
function logitDifference(
  configJson: Record<string, unknown>,
  weights: Weights,
  ids: number[],
  answer: number,
  foil: number,
  opts?: ReferenceOptions,
): number {
  const row = referenceRecords(configJson, weights, ids, opts).logits[ids.length - 1];
  return row[answer] - row[foil];
}

export interface ReferencePatching {
  clean: number;
  corrupted: number;
  heads: Matrix; // [layers][heads]: patched logit differences
  residual: Matrix; // [layers][T]
}

/** Every patched run of activation patching, each a whole reference forward. */
export function referencePatching(
  configJson: Record<string, unknown>,
  weights: Weights,
  clean: number[],
  corrupted: number[],
  answer: number,
  foil: number,
  iv: Interventions = {},
): ReferencePatching {
  const cleanRun = referenceRecords(configJson, weights, clean, iv);
  const { cfg } = cleanRun;
  const diff = (patch?: ReferenceOptions) =>
    logitDifference(configJson, weights, corrupted, answer, foil, { ...iv, ...patch });
  const layers = Array.from({ length: cfg.layers }, (_, l) => l);
  return {
    clean: logitDifference(configJson, weights, clean, answer, foil, iv),
    corrupted: diff(),
    heads: layers.map((layer) =>
      cleanRun.headOutputs[layer].map((outputs, head) =>
        diff({ patch: { layer, head: { head, outputs } } }),
      ),
    ),
    residual: layers.map((layer) =>
      clean.map((_, position) =>
        diff({
          patch: {
            layer,
            residual: { position, row: cleanRun.residuals[`h.${layer}.input`][position] },
          },
        }),
      ),
    ),
  };
}

/** Σ of the attribution's parts: the logit, if the decomposition is right. */
export function attributionSum(a: Omit<ReferenceAttribution, 'logit'>): number {
  return [...a.heads.flat(), ...a.mlps, a.embedding, a.biases].reduce((s, v) => s + v, 0);
}
