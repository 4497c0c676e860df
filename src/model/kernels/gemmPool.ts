/**
 * Our matrix products split over threads on tfjs-wasm's threaded build (docs/performance.md,
 * "wasm threads and hosting"). The thread that runs tfjs (the model worker) and N − 1 helpers
 * each instantiate the shared-memory build of gemm.c on tfjs's shared WebAssembly.Memory, with a
 * scratch area of their own; a product is cut into parts (planParts), each helper is handed its
 * part through Atomics on a SharedArrayBuffer, the calling thread computes the first part and
 * waits for the others. gemm_part sums every output in the same order whatever the part, so the
 * result is the same bits as on one thread.
 */
import type { GemmExports } from './gemm';

/** Batches i1 … i2−1 and columns j1 … j2−1 of a product: one thread's share. */
export interface Part {
  i1: number;
  i2: number;
  j1: number;
  j2: number;
}

/** A product's size: batch × [m, k] · [k, n]. */
export interface ProductSize {
  m: number;
  n: number;
  k: number;
  batch: number;
}

/**
 * Multiply-adds under which a product runs on the calling thread alone: waking a helper and
 * waiting for it costs tens of µs, about what 2¹⁸ multiply-adds take (docs/performance.md).
 */
export const MIN_SPLIT_MACS = 1 << 18;

/**
 * Columns are cut at multiples of 16: whole 64-byte lines of C, whole groups of the M = 1 kernels
 * (4 × f32x4 dot products, f32x4 columns of gemv) and whole 8-wide panels of the blocked product.
 */
export const COLUMN_STEP = 16;

/** Cuts `count` units into `parts` contiguous ranges whose sizes differ by at most one unit. */
function ranges(count: number, parts: number, unit: number, end: number): [number, number][] {
  return Array.from({ length: parts }, (_, t): [number, number] => [
    Math.min(end, Math.floor((count * t) / parts) * unit),
    Math.min(end, Math.floor((count * (t + 1)) / parts) * unit),
  ]).filter(([from, to]) => to > from);
}

/**
 * The parts of a product for `threads` threads: by batch (attention's heads) when there are at
 * least as many matrices as threads, else by columns of C; the whole product as one part when it
 * is too small to pay for the threads. Every output lies in exactly one part.
 */
export function planParts(size: ProductSize, threads: number, minMacs = MIN_SPLIT_MACS): Part[] {
  const { m, n, k, batch } = size;
  const whole = { i1: 0, i2: batch, j1: 0, j2: n };
  if (threads <= 1 || batch * m * n * k < minMacs) return [whole];
  if (batch >= threads)
    return ranges(batch, threads, 1, batch).map(([i1, i2]) => ({ ...whole, i1, i2 }));
  const steps = Math.ceil(n / COLUMN_STEP);
  return ranges(steps, Math.min(threads, steps), COLUMN_STEP, n).map(([j1, j2]) => ({
    ...whole,
    j1,
    j2,
  }));
}

/** gemm_part's arguments apart from the part and the scratch area (addresses in bytes). */
export interface GemmJob {
  transposed: boolean;
  a: number;
  b: number;
  c: number;
  bias: number;
  m: number;
  n: number;
  k: number;
  batch: number;
  strideA: number;
  strideB: number;
}

// The control block (Int32Array): a job's sequence number, which helpers wait on; the count of
// helpers still at work, which the caller waits on; the job; each thread's part (4 ints).
const SEQUENCE = 0;
const PENDING = 1;
const JOB = 2;
const PARTS = 16;

/**
 * Polls of an Atomics word before a thread sleeps on it: products come back to back within a
 * forward, and a futex wake costs more than a short spin; a long one would take the core from
 * the other thread (2 cores here).
 */
const SPINS = 2000;

function waitWhile(control: Int32Array, at: number, from: number): void {
  for (let spin = 0; spin < SPINS; spin++) if (Atomics.load(control, at) !== from) return;
  Atomics.wait(control, at, from);
}

function runPart(kernels: GemmExports, control: Int32Array, thread: number, scratch: number) {
  const at = PARTS + 4 * thread;
  const [i1, i2, j1, j2] = [control[at], control[at + 1], control[at + 2], control[at + 3]];
  if (i2 <= i1 || j2 <= j1) return;
  const job = control.subarray(JOB, JOB + 10);
  kernels.gemm_part(
    job[0],
    job[1],
    job[2],
    job[3],
    job[4],
    job[5],
    job[6],
    job[7],
    job[8],
    job[9],
    i1,
    i2,
    j1,
    j2,
    scratch,
  );
}

/** What a helper thread is sent to start: its index (1 … N − 1) and its scratch area. */
export interface HelperInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: Int32Array;
  thread: number;
  scratch: number;
}

/**
 * A helper thread's life: instantiate gemm.c on the shared memory, say `ready`, then run its part
 * of every job until the thread is terminated (it never returns to its event loop).
 */
export function serveGemm(init: HelperInit, ready: () => void): never {
  const { module, memory, control, thread, scratch } = init;
  const kernels = new WebAssembly.Instance(module, { env: { memory } })
    .exports as unknown as GemmExports;
  ready();
  for (let seen = 0; ;) {
    waitWhile(control, SEQUENCE, seen);
    seen = Atomics.load(control, SEQUENCE);
    runPart(kernels, control, thread, scratch);
    if (Atomics.sub(control, PENDING, 1) === 1) Atomics.notify(control, PENDING);
  }
}

/** The calling thread's side: hands out the parts of each product and computes the first one. */
export class GemmPool {
  constructor(
    private readonly kernels: GemmExports,
    private readonly scratch: number,
    private readonly control: Int32Array,
    private readonly helpers: { terminate(): void }[],
  ) {}

  get threads(): number {
    return this.helpers.length + 1;
  }

  /** The product `job` on every thread (its parts as planParts cuts them). */
  run(job: GemmJob): void {
    const { control } = this;
    const parts = planParts(job, this.threads);
    const fields = [job.transposed ? 1 : 0, job.a, job.b, job.c, job.bias, job.m, job.n, job.k];
    control.set([...fields, job.strideA, job.strideB], JOB);
    for (let t = 0; t < this.threads; t++) {
      const p = parts[t] ?? { i1: 0, i2: 0, j1: 0, j2: 0 };
      control.set([p.i1, p.i2, p.j1, p.j2], PARTS + 4 * t);
    }
    if (parts.length > 1) {
      Atomics.store(control, PENDING, this.helpers.length);
      Atomics.add(control, SEQUENCE, 1);
      Atomics.notify(control, SEQUENCE);
    }
    runPart(this.kernels, control, 0, this.scratch);
    if (parts.length === 1) return;
    for (let left; (left = Atomics.load(control, PENDING)) !== 0;)
      waitWhile(control, PENDING, left);
  }

  dispose(): void {
    this.helpers.forEach((h) => h.terminate());
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
}

/**
 * A pool of `threads − 1` helpers (`spawn` makes one), each with a scratch area of its own.
 * Resolves when every helper has instantiated the kernels; rejects, with the helpers stopped, if
 * one fails or does not answer within `timeoutMs`.
 */
export async function startGemmPool(options: PoolOptions): Promise<GemmPool> {
  const { module, memory, kernels, threads, spawn, timeoutMs = 10_000 } = options;
  const control = new Int32Array(new SharedArrayBuffer(4 * (PARTS + 4 * threads)));
  const helpers: HelperThread[] = [];
  const start = (thread: number) =>
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
      helper.postMessage({ module, memory, control, thread, scratch });
    });
  try {
    await Promise.all(Array.from({ length: threads - 1 }, (_, i) => start(i + 1)));
  } catch (e) {
    helpers.forEach((h) => h.terminate());
    throw e;
  }
  return new GemmPool(kernels, options.scratch, control, helpers);
}
