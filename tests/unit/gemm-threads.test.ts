/**
 * Our matrix products split over threads (src/model/kernels/gemmPool.ts): the plan covers every
 * output exactly once; gemm.c's shared-memory build computes any part with the bits of the whole
 * product; and a pool of real threads (Node's worker_threads, on a shared WebAssembly.Memory)
 * gives the bits of one thread, product after product, and still the bits when a helper stops
 * answering in the middle of a part.
 */
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instantiateGemm, type GemmExports } from '../../src/model/kernels/gemm';
import {
  COLUMN_STEP,
  type GemmJob,
  type GemmPool,
  type HelperThread,
  MIN_SPLIT_MACS,
  PARTS_PER_THREAD,
  planParts,
  productForm,
  type Part,
  type ProductSize,
  STALL_MS,
  startGemmPool,
} from '../../src/model/kernels/gemmPool';
import { GEMM_SIMD_SHARED } from '../../src/model/kernels/gemmWasm';

/** How many parts hold each output (batch, column). */
function owners(size: ProductSize, parts: Part[]): Set<number> {
  const count = new Uint8Array(size.batch * size.n);
  for (const p of parts)
    for (let i = p.i1; i < p.i2; i++) for (let j = p.j1; j < p.j2; j++) count[i * size.n + j]++;
  return new Set(count);
}

describe('planParts', () => {
  it('covers every output exactly once, in a few parts a thread', () => {
    for (const threads of [1, 2, 3, 4])
      for (const size of [
        { m: 64, n: 2304, k: 768, batch: 1 },
        { m: 1, n: 50257, k: 768, batch: 1, transposed: true },
        { m: 64, n: 64, k: 64, batch: 12, transposed: true },
        { m: 1, n: 17, k: 64, batch: 12 },
        { m: 300, n: 33, k: 300, batch: 3 },
        { m: 1000, n: 5, k: 1000, batch: 1 },
      ].map((s) => ({ transposed: false, ...s }))) {
        const parts = planParts(size, threads);
        expect(parts.length).toBeLessThanOrEqual(threads * PARTS_PER_THREAD);
        expect(owners(size, parts), JSON.stringify({ size, threads })).toEqual(new Set([1]));
      }
  });

  it('keeps a product too small to pay for threads whole', () => {
    const size = { m: 4, n: 64, k: 64, batch: 12, transposed: true };
    expect(size.m * size.n * size.k * size.batch).toBeLessThan(MIN_SPLIT_MACS);
    expect(planParts(size, 2)).toEqual([{ i1: 0, i2: 12, j1: 0, j2: 64 }]);
  });

  it("splits attention's heads by batch, whole matrices in each part", () => {
    const parts = planParts({ m: 64, n: 64, k: 64, batch: 12, transposed: true }, 2);
    expect(parts).toHaveLength(2 * PARTS_PER_THREAD);
    for (const p of parts) expect([p.j1, p.j2, p.i2 - p.i1 >= 1]).toEqual([0, 64, true]);
    expect(parts.map((p) => p.i1)).toEqual([0, 1, 3, 4, 6, 7, 9, 10]);
  });

  it('splits one matrix by columns at multiples of 16, evenly', () => {
    const parts = planParts({ m: 1, n: 50257, k: 768, batch: 1, transposed: true }, 3);
    expect(parts).toHaveLength(3 * PARTS_PER_THREAD);
    for (const p of parts) expect([p.i1, p.i2, p.j1 % COLUMN_STEP]).toEqual([0, 1, 0]);
    const widths = parts.map((p) => p.j2 - p.j1);
    expect(Math.max(...widths) - Math.min(...widths)).toBeLessThanOrEqual(COLUMN_STEP + 15);
  });

  it('keeps one row times a matrix whole, unless there is a batch of them', () => {
    const row = { m: 1, n: 3072, k: 768, batch: 1, transposed: false };
    expect(planParts(row, 2)).toEqual([{ i1: 0, i2: 1, j1: 0, j2: 3072 }]);
    expect(planParts({ ...row, batch: 12 }, 2)).toHaveLength(2 * PARTS_PER_THREAD);
    expect(planParts({ ...row, m: 2 }, 2)).toHaveLength(2 * PARTS_PER_THREAD);
  });
});

const decode = (base64: string) => Uint8Array.from(Buffer.from(base64, 'base64'));

/** A shared memory with A, B, bias and two outputs of `size` laid out in it, A to C filled. */
function layout(memory: WebAssembly.Memory, size: ProductSize) {
  const { m, n, k, batch } = size;
  const f = new Float32Array(memory.buffer);
  let top = 1024; // floats; every operand 16-float aligned
  const take = (floats: number) => {
    const at = top;
    top += Math.ceil(floats / 16) * 16 + 16;
    return at;
  };
  const at = {
    a: take(batch * m * k),
    b: take(batch * k * n),
    bias: take(n),
    c: take(batch * m * n),
    whole: take(batch * m * n),
    scratch: take(1 << 17),
  };
  const value = (i: number, salt: number) => Math.sin(i * 0.731 + salt) * (1 + (i % 5));
  for (let i = 0; i < batch * m * k; i++) f[at.a + i] = value(i, 1);
  for (let i = 0; i < batch * k * n; i++) f[at.b + i] = value(i, 2);
  for (let i = 0; i < n; i++) f[at.bias + i] = value(i, 3);
  const job: GemmJob = {
    a: at.a * 4,
    b: at.b * 4,
    c: at.c * 4,
    bias: at.bias * 4,
    ...size,
    strideA: m * k,
    strideB: k * n,
  };
  const out = (from: number) => f.slice(from, from + batch * m * n);
  return { f, at, job, top: top * 4, out };
}

/** The whole product through gemm_nn / gemm_nt into `whole`. */
function runWhole(g: GemmExports, l: ReturnType<typeof layout>) {
  const { job, at } = l;
  const entry = job.transposed ? g.gemm_nt : g.gemm_nn;
  entry(job.a, job.b, at.whole * 4, job.bias, job.m, job.n, job.k, job.batch, job.strideA,
    job.strideB, at.scratch * 4); // prettier-ignore
}

// Odd shapes: no multiple of the 4 × 8 tiles, the 256-wide blocks or the column step; M = 1 takes
// gemv (A·B) and dots (A·Bᵀ).
const SIZES: Omit<ProductSize, 'transposed'>[] = [
  { m: 1, n: 1001, k: 97, batch: 1 },
  { m: 1, n: 37, k: 300, batch: 3 },
  { m: 7, n: 300, k: 9, batch: 1 },
  { m: 13, n: 523, k: 600, batch: 1 },
  { m: 33, n: 65, k: 131, batch: 5 },
];

/** Cuts by columns (at multiples of 16) and, with a batch, by matrices. */
function cuts(size: ProductSize, pieces: number): Part[][] {
  const whole = { i1: 0, i2: size.batch, j1: 0, j2: size.n };
  const at = (count: number, t: number) => Math.floor((count * t) / pieces);
  const steps = Math.ceil(size.n / 16);
  const byColumns = Array.from({ length: pieces }, (_, t) => ({
    ...whole,
    j1: Math.min(size.n, at(steps, t) * 16),
    j2: Math.min(size.n, at(steps, t + 1) * 16),
  }));
  const byBatch = Array.from({ length: pieces }, (_, t) => ({
    ...whole,
    i1: at(size.batch, t),
    i2: at(size.batch, t + 1),
  }));
  return size.batch > 1 ? [byColumns, byBatch] : [byColumns];
}

describe("gemm.c's shared-memory build", () => {
  const memory = new WebAssembly.Memory({ initial: 512, maximum: 1024, shared: true });
  const g = () => instantiateGemm('simd', memory);

  it('imports a shared memory, and is what instantiateGemm gives for one', () => {
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(decode(GEMM_SIMD_SHARED)));
    expect(imports).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    expect(() => g()).not.toThrow();
  });

  for (const transposed of [false, true])
    it(`computes any part of ${transposed ? 'A·Bᵀ' : 'A·B'} with the bits of the whole`, () => {
      const kernels = g();
      for (const shape of SIZES)
        for (const parts of [2, 3, 4].flatMap((t) => cuts({ ...shape, transposed }, t))) {
          const size = { ...shape, transposed };
          const l = layout(memory, size);
          runWhole(kernels, l);
          l.f.fill(NaN, l.at.c, l.at.c + size.batch * size.m * size.n);
          for (const p of parts) {
            const { job } = l;
            kernels.gemm_part(Number(transposed), job.a, job.b, job.c, job.bias, job.m, job.n,
              job.k, job.strideA, job.strideB, p.i1, p.i2, p.j1, p.j2, l.at.scratch * 4); // prettier-ignore
          }
          expect(l.out(l.at.c), JSON.stringify({ size, parts })).toEqual(l.out(l.at.whole));
        }
    });
});

/** A worker_threads Worker running gemm.worker.ts's loop, as the pool wants a helper. */
function nodeHelper(): HelperThread {
  // An eval'd worker that registers tsx's loader, then imports the TypeScript helper.
  const helper = JSON.stringify(new URL('./gemmHelperNode.ts', import.meta.url).href);
  const code = `import('tsx/esm/api').then((tsx) => tsx.register()).then(() => import(${helper}))`;
  const worker = new Worker(code, { eval: true });
  return {
    postMessage: (init) => worker.postMessage(init),
    addEventListener: (type, listener) =>
      worker.on(type, (e: unknown) => listener(e instanceof Error ? e : {})),
    terminate: () => void worker.terminate(),
  };
}

describe('a pool of threads', () => {
  const memory = new WebAssembly.Memory({ initial: 1024, maximum: 2048, shared: true });
  let pool: GemmPool;
  let kernels: GemmExports;
  let top = 512 << 16; // scratch areas above the operands
  const malloc = (bytes: number) => (top += bytes) - bytes;
  let ownParts = 0; // parts the calling thread ran: the helpers ran the rest
  beforeAll(async () => {
    kernels = instantiateGemm('simd', memory);
    const counted = {
      ...kernels,
      gemm_part: (...args: Parameters<GemmExports['gemm_part']>) => {
        ownParts++;
        kernels.gemm_part(...args);
      },
    };
    pool = await startGemmPool({
      module: new WebAssembly.Module(decode(GEMM_SIMD_SHARED)),
      memory,
      kernels: counted,
      scratch: malloc(kernels.gemm_scratch_bytes()),
      malloc,
      threads: 3,
      spawn: nodeHelper,
    });
  });
  afterAll(() => pool?.dispose());

  it('gives the bits of one thread, product after product, the helpers running parts', () => {
    expect(pool.threads).toBe(3);
    let parts = 0;
    for (let round = 0; round < 20; round++)
      for (const transposed of [false, true])
        for (const size of SIZES) {
          // Wide enough to pass MIN_SPLIT_MACS, so that it is split; still no multiple of 16.
          const macs = size.batch * size.m * size.n * size.k;
          const big = { ...size, transposed, n: size.n * Math.ceil(MIN_SPLIT_MACS / macs) + 5 };
          const l = layout(memory, big);
          parts += planParts(big, 3).length;
          expect(l.top).toBeLessThan(512 << 16);
          runWhole(kernels, l);
          l.f.fill(NaN, l.at.c, l.at.c + big.batch * big.m * big.n);
          pool.run(l.job);
          expect(l.out(l.at.c), JSON.stringify(big)).toEqual(l.out(l.at.whole));
        }
    expect(parts).toBeGreaterThan(20 * 2 * SIZES.length); // most were split
    expect(ownParts).toBeLessThan(parts);
  });

  // Weights kept as 16-bit codes (kernels/codes.h): the helpers get the codes' offset with the job.
  it('gives the bits of one thread with B as 16-bit codes', () => {
    const bcode = 240; // codes for 2^-13 … 2^6
    for (const transposed of [false, true])
      for (const size of SIZES) {
        const macs = size.batch * size.m * size.n * size.k;
        const big = { ...size, transposed, n: size.n * Math.ceil(MIN_SPLIT_MACS / macs) + 5 };
        const l = layout(memory, big);
        const codes = new Uint16Array(memory.buffer, l.job.b, big.batch * big.k * big.n);
        codes.forEach((_, i) => {
          codes[i] =
            i % 17 === 0 ? 0 : ((i * 40503) & 0x8000) | ((1 + ((i * 13) % 20)) << 10) | (i % 1024);
        });
        const job = { ...l.job, bcode };
        kernels.gemm_part(productForm(job), job.a, job.b, l.at.whole * 4, job.bias, job.m, job.n,
          job.k, job.strideA, job.strideB, 0, job.batch, 0, job.n, l.at.scratch * 4); // prettier-ignore
        l.f.fill(NaN, l.at.c, l.at.c + big.batch * big.m * big.n);
        pool.run(job);
        expect(l.out(l.at.whole).every(Number.isFinite)).toBe(true);
        expect(l.out(l.at.c), JSON.stringify(big)).toEqual(l.out(l.at.whole));
      }
  });
});

describe('a pool whose helper stops answering', () => {
  it('gives up on it after the stall time and computes the product alone, with the same bits', async () => {
    const memory = new WebAssembly.Memory({ initial: 1024, maximum: 2048, shared: true });
    let top = 512 << 16;
    const malloc = (bytes: number) => (top += bytes) - bytes;
    const kernels = instantiateGemm('simd', memory);
    // The helper's kernels: a gemm_part that claims its part and never returns (a thread that
    // died in the middle of one).
    const params = Array.from({ length: 15 }, () => 'i32').join(' ');
    const wabt = await (await import('wabt')).default();
    const hanging = wabt
      .parseWat(
        'hang.wat',
        `(module (import "env" "memory" (memory 1 65536 shared))
           (func (export "gemm_part") (param ${params}) (loop $forever (br $forever))))`,
        { threads: true },
      )
      .toBinary({}).buffer;
    const stallMs = 300;
    expect(stallMs).toBeLessThan(STALL_MS);
    const pool = await startGemmPool({
      module: new WebAssembly.Module(new Uint8Array(hanging)),
      memory,
      kernels,
      scratch: malloc(kernels.gemm_scratch_bytes()),
      malloc,
      threads: 2,
      spawn: nodeHelper,
      stallMs,
    });
    try {
      // Big enough (a few ms) that the helper wakes and claims a part while the caller works.
      const size = { m: 64, n: 3000, k: 768, batch: 1, transposed: false };
      expect(planParts(size, 2).length).toBeGreaterThan(1);
      const warn = console.warn;
      const warnings: unknown[] = [];
      console.warn = (...args: unknown[]) => void warnings.push(args);
      try {
        // Until the helper has claimed a part (and the pool has given up on it), then once more.
        for (let round = 0, alone = 0; round < 20 && alone < 2; round++) {
          const l = layout(memory, size);
          runWhole(kernels, l);
          l.f.fill(NaN, l.at.c, l.at.c + size.m * size.n);
          pool.run(l.job);
          expect(l.out(l.at.c)).toEqual(l.out(l.at.whole));
          if (pool.threads === 1) alone++;
        }
      } finally {
        console.warn = warn;
      }
      expect(warnings).toHaveLength(1); // once: the next product ran on one thread
      expect(pool.threads).toBe(1);
    } finally {
      pool.dispose();
    }
  });
});
