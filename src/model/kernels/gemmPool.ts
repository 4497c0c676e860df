/**
 * Our matrix products split over threads on tfjs-wasm's threaded build (docs/performance.md,
 * "wasm threads and hosting"). The thread that runs tfjs (the model worker) and N − 1 helpers
 * each instantiate the shared-memory build of gemm.c on tfjs's shared WebAssembly.Memory, with a
 * scratch area of their own. A product is cut into a few parts per thread (planParts), posted
 * through Atomics on a SharedArrayBuffer; every thread, the caller included, claims parts one at
 * a time until none is left, and the caller returns when all are done. A helper the scheduler
 * parks (other processes on the cores) then costs nothing but its one part: the others take the
 * rest. gemm_part sums every output in the same order whatever the part, so the result is the
 * same bits as on one thread.
 */
import type { GemmExports, Operands } from './gemm';

/** Batches i1 … i2−1 and columns j1 … j2−1 of a product: what one thread claims at a time. */
export interface Part {
  i1: number;
  i2: number;
  j1: number;
  j2: number;
}

/** A product's size: batch × [m, k] · [k, n] (B stored [n, k] if transposed). */
export interface ProductSize {
  m: number;
  n: number;
  k: number;
  batch: number;
  transposed: boolean;
}

/**
 * Multiply-adds under which a product runs on the calling thread alone. Handing out parts and
 * waiting for a helper cost 0.02–0.06 ms here (a split 2¹⁸, 0.04 ms alone, took 0.06–0.10): the
 * crossover lies between 2¹⁸ and 2²⁰ (docs/performance.md; the load kept finer timings noisy).
 */
export const MIN_SPLIT_MACS = 1 << 20;

/**
 * Columns are cut at multiples of 16: whole 64-byte lines of C, whole groups of the M = 1 kernels
 * (4 × f32x4 dot products, f32x4 columns of gemv) and whole 8-wide panels of the blocked product.
 */
export const COLUMN_STEP = 16;

/** Parts per thread: small enough that a slow thread holds the others up little. */
export const PARTS_PER_THREAD = 4;

/** The most parts of one product (the control block's room). */
const MAX_PARTS = 64;

/** Cuts `count` units into `parts` contiguous ranges whose sizes differ by at most one unit. */
function ranges(count: number, parts: number, unit: number, end: number): [number, number][] {
  return Array.from({ length: parts }, (_, t): [number, number] => [
    Math.min(end, Math.floor((count * t) / parts) * unit),
    Math.min(end, Math.floor((count * (t + 1)) / parts) * unit),
  ]);
}

/**
 * The parts of a product for `threads` threads, about PARTS_PER_THREAD each: by batch
 * (attention's heads) when there are at least as many matrices as threads, else by columns of C;
 * the whole product as one part when it is too small to pay for the threads. Every output lies in
 * exactly one part. One row times a matrix (a generation step's linear layers, gemv_nn_part) is not
 * cut by columns: it streams B's rows, a part reads a piece of each, 6–40% slower per byte than
 * whole rows, and even in halves it gained nothing per generated token (docs/performance.md).
 */
export function planParts(size: ProductSize, threads: number, minMacs = MIN_SPLIT_MACS): Part[] {
  const { m, n, k, batch } = size;
  const whole = { i1: 0, i2: batch, j1: 0, j2: n };
  if (threads <= 1 || batch * m * n * k < minMacs) return [whole];
  const parts = Math.min(MAX_PARTS, threads * PARTS_PER_THREAD);
  if (batch >= threads)
    return ranges(batch, Math.min(batch, parts), 1, batch).map(([i1, i2]) => ({
      ...whole,
      i1,
      i2,
    }));
  if (m === 1 && !size.transposed) return [whole];
  const steps = Math.ceil(n / COLUMN_STEP);
  return ranges(steps, Math.min(steps, parts), COLUMN_STEP, n).map(([j1, j2]) => ({
    ...whole,
    j1,
    j2,
  }));
}

/** gemm_part's arguments apart from the part and the scratch area (addresses in bytes). */
export interface GemmJob extends ProductSize {
  a: number;
  /** B as floats, or (with `bcode`) as 16-bit codes: codes.h. */
  b: number;
  /** The codes' exponent offset (codes.h) when B is codes; absent for floats. */
  bcode?: number;
  c: number;
  bias: number;
  strideA: number; // floats from one matrix of the batch to the next (0: one for all)
  strideB: number;
}

// The control block (Int32Array): the job's sequence number, which helpers wait on; the claim
// word, (sequence mod 2¹⁵) · 2¹⁶ + the next unclaimed part, so that a thread still holding an old
// job's sequence can never claim a part of a newer one; the parts done and their count; the job;
// the parts (4 ints each).
const SEQUENCE = 0;
const CLAIM = 1;
const DONE = 2;
const COUNT = 3;
const JOB = 4;
const PARTS = 16;

/**
 * How long a thread polls an Atomics word before it sleeps on it (ms). Waking a sleeping thread
 * costs about 0.1 ms here, as much as a third of a small product: the model worker, whose
 * helpers are at work on their last parts, polls until they are done; a helper polls for the
 * next product a while, since products come close together within a forward, and then sleeps,
 * so as not to keep a core from others.
 */
const CALLER_SPIN_MS = 0.5;
const HELPER_SPIN_MS = 0.1;

/**
 * Milliseconds without a part finishing after which the caller stops waiting for its helpers: a
 * helper that died in the middle of a part (a crash, the tab's memory) would never finish it.
 * The caller then stops them and computes the whole product itself. Parts write the same bits
 * whoever computes them, so a helper that was only late writes nothing different.
 */
export const STALL_MS = 10_000;

/**
 * Returns once `control[at]` is no longer `from`, polling for `spinMs`, then asleep, or after
 * `sleepMs` asleep.
 */
function waitWhile(
  control: Int32Array,
  at: number,
  from: number,
  spinMs: number,
  sleepMs = Infinity,
): void {
  for (const until = performance.now() + spinMs; performance.now() < until;)
    for (let spin = 0; spin < 100; spin++) if (Atomics.load(control, at) !== from) return;
  Atomics.wait(control, at, from, sleepMs);
}

/** gemm_part's first argument: A·B 0, A·Bᵀ 1; plus 2·bcode with B as codes. */
export const productForm = (job: GemmJob) => (job.transposed ? 1 : 0) + 2 * (job.bcode ?? 0);

const tagOf = (sequence: number) => (sequence & 0x7fff) << 16;

function runPart(kernels: GemmExports, control: Int32Array, part: number, scratch: number) {
  const at = PARTS + 4 * part;
  const job = control.subarray(JOB, JOB + 10);
  kernels.gemm_part(job[0], job[1], job[2], job[3], job[4], job[5], job[6], job[7], job[8],
    job[9], control[at], control[at + 1], control[at + 2], control[at + 3], scratch); // prettier-ignore
}

/**
 * Claims and runs parts of the job of `sequence` until none is left (or a newer job has replaced
 * it: then its parts were all claimed already).
 */
function work(kernels: GemmExports, control: Int32Array, sequence: number, scratch: number) {
  const tag = tagOf(sequence);
  for (;;) {
    const claim = Atomics.load(control, CLAIM);
    const count = Atomics.load(control, COUNT);
    if ((claim & ~0xffff) !== tag || (claim & 0xffff) >= count) return;
    if (Atomics.compareExchange(control, CLAIM, claim, claim + 1) !== claim) continue;
    runPart(kernels, control, claim & 0xffff, scratch);
    if (Atomics.add(control, DONE, 1) + 1 === count) Atomics.notify(control, DONE);
  }
}

/** What a helper thread is sent to start: the kernels, the control block, its scratch area. */
export interface HelperInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: Int32Array;
  scratch: number;
}

/**
 * A helper thread's life: instantiate gemm.c on the shared memory, say `ready`, then claim parts
 * of every job until the thread is terminated (it never returns to its event loop).
 */
export function serveGemm(init: HelperInit, ready: () => void): never {
  const { module, memory, control, scratch } = init;
  const kernels = new WebAssembly.Instance(module, { env: { memory } })
    .exports as unknown as GemmExports;
  ready();
  for (let seen = 0; ;) {
    waitWhile(control, SEQUENCE, seen, HELPER_SPIN_MS);
    seen = Atomics.load(control, SEQUENCE);
    work(kernels, control, seen, scratch);
  }
}

/** The calling thread's side: posts the parts of each product and works on them too. */
export class GemmPool {
  constructor(
    private readonly kernels: GemmExports,
    private readonly scratch: number,
    private readonly control: Int32Array,
    private helpers: { terminate(): void }[],
    private readonly stallMs = STALL_MS,
  ) {}

  get threads(): number {
    return this.helpers.length + 1;
  }

  /** The product `job` on every thread (its parts as planParts cuts them). */
  run(job: GemmJob): void {
    const { control, kernels } = this;
    const parts = planParts(job, this.threads);
    const operands: Operands = [job.a, job.b, job.c, job.bias, job.m, job.n, job.k];
    const form = productForm(job);
    const alone = () =>
      kernels.gemm_part(form, ...operands, job.strideA, job.strideB, 0, job.batch, 0, job.n,
        this.scratch); // prettier-ignore
    if (parts.length === 1) return alone();
    // Every part of the last job is done; a thread still in `work` with its sequence finds the
    // claim word's new tag (stored first) and claims nothing. Helpers read the rest only once the
    // new sequence is out.
    const sequence = control[SEQUENCE] + 1;
    Atomics.store(control, CLAIM, tagOf(sequence));
    control.set([form, ...operands, job.strideA, job.strideB], JOB);
    parts.forEach((p, t) => control.set([p.i1, p.i2, p.j1, p.j2], PARTS + 4 * t));
    Atomics.store(control, DONE, 0);
    Atomics.store(control, COUNT, parts.length);
    Atomics.store(control, SEQUENCE, sequence);
    Atomics.notify(control, SEQUENCE);
    work(kernels, control, sequence, this.scratch);
    let since = performance.now();
    for (let done = Atomics.load(control, DONE); done < parts.length;) {
      waitWhile(control, DONE, done, CALLER_SPIN_MS, this.stallMs);
      const now = Atomics.load(control, DONE);
      if (now !== done) [done, since] = [now, performance.now()];
      else if (performance.now() - since >= this.stallMs) {
        console.warn(`a gemm thread stopped answering: products run on one thread from now on`);
        this.dispose();
        return alone();
      }
    }
  }

  dispose(): void {
    this.helpers.forEach((h) => h.terminate());
    this.helpers = [];
  }
}

/** A helper thread as the pool sees it: a Worker, or Node's worker_threads in a wrapper (tests). */
export interface HelperThread {
  postMessage(init: HelperInit): void;
  addEventListener(type: 'message' | 'error', listener: (e: { message?: string }) => void): void;
  terminate(): void;
}

export interface PoolOptions {
  module: WebAssembly.Module; // gemm.c built for a shared memory
  memory: WebAssembly.Memory; // shared
  kernels: GemmExports; // the calling thread's instance, on `memory`
  scratch: number; // the calling thread's scratch area
  malloc(bytes: number): number; // a helper's scratch area, in `memory`
  threads: number;
  spawn(): HelperThread;
  timeoutMs?: number;
  stallMs?: number; // STALL_MS unless a test asks for less
}

/**
 * A pool of `threads − 1` helpers (`spawn` makes one), each with a scratch area of its own.
 * Resolves when every helper has instantiated the kernels; rejects, with the helpers stopped, if
 * one fails or does not answer within `timeoutMs`.
 */
export async function startGemmPool(options: PoolOptions): Promise<GemmPool> {
  const { module, memory, kernels, threads, spawn, timeoutMs = 10_000 } = options;
  const control = new Int32Array(new SharedArrayBuffer(4 * (PARTS + 4 * MAX_PARTS)));
  const helpers: HelperThread[] = [];
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const helper = spawn();
      helpers.push(helper);
      const timer = setTimeout(() => reject(new Error('a gemm thread did not start')), timeoutMs);
      helper.addEventListener('message', () => (clearTimeout(timer), resolve()));
      helper.addEventListener('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`a gemm thread failed: ${e.message ?? 'no message'}`));
      });
      const scratch = options.malloc(kernels.gemm_scratch_bytes());
      helper.postMessage({ module, memory, control, scratch });
    });
  try {
    await Promise.all(Array.from({ length: threads - 1 }, start));
  } catch (e) {
    helpers.forEach((h) => h.terminate());
    throw e;
  }
  return new GemmPool(kernels, options.scratch, control, helpers, options.stallMs);
}
