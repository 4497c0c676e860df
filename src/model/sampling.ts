/**
 * Choosing the next token from a row of logits: greedy (the argmax), or a draw from the softmax at
 * a temperature, cut to the top-k tokens and then to the nucleus (top-p), as Hugging Face's
 * `generate` orders its warpers (temperature, top-k, top-p). Pure: the draw's uniform number is an
 * argument, and `stepUniform` derives it from the seed and the position, so a seed gives the same
 * sequence however the steps are split into requests.
 */
import { Rng } from './random';

export interface Sampling {
  /** 0: greedy (the argmax); otherwise logits are divided by it before the softmax. */
  temperature: number;
  /** Keep only the k most likely tokens; 0 keeps all. */
  topK: number;
  /** Keep the smallest set of most likely tokens whose probabilities sum to ≥ p; 1 keeps all. */
  topP: number;
  seed: number;
}

export const GREEDY: Sampling = { temperature: 0, topK: 0, topP: 1, seed: 0 };

/** Index of the largest logit; the first one among equals (as the top-k list orders them). */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export function isGreedy(s: Sampling): boolean {
  return s.temperature <= 0 || s.topK === 1;
}

/**
 * The tokens a draw can pick and their probabilities (float64, summing to 1), most likely first:
 * softmax(logits / temperature), cut to the top k, renormalised, then cut to the smallest prefix
 * whose probabilities reach `topP`, renormalised again. Only the tokens kept are put in order
 * (`LargestFirst`): sorting all of GPT-2's 50,257 took 100–350 ms a token, more than its forward.
 */
export function samplingDistribution(
  logits: ArrayLike<number>,
  s: Sampling,
): { ids: number[]; probs: number[] } {
  if (isGreedy(s)) return { ids: [argmax(logits)], probs: [1] };
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i]);
  const weights = new Float64Array(n);
  for (let i = 0; i < n; i++) weights[i] = Math.exp((logits[i] - max) / s.temperature);
  const order = new LargestFirst(weights);
  const k = s.topK > 0 ? Math.min(s.topK, n) : n;
  let total = 0;
  let next: () => number;
  if (k < n) {
    const top = Array.from({ length: k }, () => order.pop());
    for (const id of top) total += weights[id];
    let at = 0;
    next = () => top[at++];
  } else {
    for (let i = 0; i < n; i++) total += weights[i];
    next = () => order.pop();
  }
  const kept: number[] = [];
  const probs: number[] = [];
  let mass = 0;
  for (let i = 0; i < k; i++) {
    const id = next();
    const p = weights[id] / total;
    kept.push(id);
    probs.push(p);
    mass += p;
    // 1e-12: a sum of floats may fall short of a `topP` it reaches exactly.
    if (mass >= s.topP - 1e-12) break;
  }
  return { ids: kept, probs: probs.map((p) => p / mass) };
}

/** Ids by weight, largest first (the smaller id first among equals), one at a time: a heap. */
class LargestFirst {
  private readonly heap: Int32Array;
  private size: number;

  constructor(private readonly weights: Float64Array) {
    this.size = weights.length;
    this.heap = Int32Array.from({ length: this.size }, (_, i) => i);
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.down(i);
  }

  pop(): number {
    const top = this.heap[0];
    this.heap[0] = this.heap[--this.size];
    this.down(0);
    return top;
  }

  /** Whether id a comes before id b. */
  private before(a: number, b: number): boolean {
    const wa = this.weights[a];
    const wb = this.weights[b];
    return wa > wb || (wa === wb && a < b);
  }

  /** Sift the id at `i` down to its place (plain loops: this runs up to n log n times a draw). */
  private down(i: number): void {
    const h = this.heap;
    const id = h[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.size) break;
      const r = l + 1;
      const child = r < this.size && this.before(h[r], h[l]) ? r : l;
      if (!this.before(h[child], id)) break;
      h[i] = h[child];
      i = child;
    }
    h[i] = id;
  }
}

/** The token `u` (uniform in [0, 1)) picks under `s`. */
export function sampleToken(logits: ArrayLike<number>, s: Sampling, u: number): number {
  const { ids, probs } = samplingDistribution(logits, s);
  let acc = 0;
  for (let i = 0; i < ids.length; i++) {
    acc += probs[i];
    if (u < acc) return ids[i];
  }
  return ids[ids.length - 1];
}

/** The uniform number of the draw at `position`: a function of the seed and the position only. */
export function stepUniform(seed: number, position: number): number {
  return new Rng((seed ^ Math.imul(position + 1, 0x9e3779b1)) >>> 0).next();
}
