/**
 * Our wasm matrix products (src/model/kernels/gemm.c): the committed binary is built from the
 * committed source; each entry point, in both variants, equals a float64 product on shapes that
 * are no multiple of the tiles and blocks, writes nothing outside its output and reads its
 * operands without changing them; Node's tfjs-wasm runs on it (model-kernels.test.ts compares
 * its products through tfjs with the cpu backend's).
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { gemmVariant, hasGemm } from '../../src/model/kernels/gemm';
import {
  GEMM_RELAXED,
  GEMM_RELAXED_SHARED,
  GEMM_SIMD,
  GEMM_SIMD_SHARED,
  GEMM_SOURCE_SHA256,
} from '../../src/model/kernels/gemmWasm';
import { installWasmKernels } from '../../src/model/wasmKernels';

it('the committed kernels are built from the committed sources (npm run build:kernels)', () => {
  // In scripts/build-kernels.sh's order: the sources, then the header.
  const hash = createHash('sha256');
  for (const file of ['gemm.c', 'rows.c', 'simd.h', 'codes.h', 'gemmCodes.h'])
    hash.update(readFileSync(new URL(`../../src/model/kernels/${file}`, import.meta.url)));
  expect(hash.digest('hex')).toBe(GEMM_SOURCE_SHA256);
});

interface Case {
  m: number;
  n: number;
  k: number;
  batch: number;
  broadcast: 'none' | 'a' | 'b';
  transposed: boolean;
  bias: boolean;
}

const value = (i: number, salt: number) => Math.sin(i * 0.731 + salt) * (1 + (i % 5));

/**
 * Runs every case through a module's gemm_nn / gemm_nt on a fresh memory laid out as
 * [A][gap][B][gap][bias][gap][C][gap][scratch], the gaps filled with NaN. Returns each case's C
 * and whether the operands and every gap came back unchanged. Plain JavaScript, so that a Node
 * with relaxed SIMD enabled can run it in a child process.
 */
const RUN_CASES = `(bytes, cases) => {
  const module = new WebAssembly.Module(bytes);
  return cases.map((c) => {
    const memory = new WebAssembly.Memory({ initial: 64 });
    const g = new WebAssembly.Instance(module, { env: { memory } }).exports;
    const f = new Float32Array(memory.buffer);
    f.fill(NaN);
    const gap = 16;
    const sizeA = (c.broadcast === 'a' ? 1 : c.batch) * c.m * c.k;
    const sizeB = (c.broadcast === 'b' ? 1 : c.batch) * c.k * c.n;
    const at = { a: 64 };
    at.b = at.a + sizeA + gap;
    at.bias = at.b + sizeB + gap;
    at.c = at.bias + c.n + gap;
    at.scratch = at.c + c.batch * c.m * c.n + gap;
    const value = (i, salt) => Math.sin(i * 0.731 + salt) * (1 + (i % 5));
    for (let i = 0; i < sizeA; i++) f[at.a + i] = value(i, 1);
    for (let i = 0; i < sizeB; i++) f[at.b + i] = value(i, 2);
    for (let i = 0; i < c.n; i++) f[at.bias + i] = value(i, 3);
    const before = f.slice(0, at.scratch);
    const entry = c.transposed ? g.gemm_nt : g.gemm_nn;
    entry(at.a * 4, at.b * 4, at.c * 4, c.bias ? at.bias * 4 : 0, c.m, c.n, c.k, c.batch,
      c.broadcast === 'a' ? 0 : c.m * c.k, c.broadcast === 'b' ? 0 : c.k * c.n, at.scratch * 4);
    const out = Array.from(f.subarray(at.c, at.c + c.batch * c.m * c.n));
    let untouched = true;
    for (let i = 0; i < at.scratch; i++) {
      const inC = i >= at.c && i < at.c + out.length;
      if (!inC && !Object.is(f[i], before[i])) untouched = false;
    }
    return { out, untouched };
  });
}`;

type Run = (bytes: Uint8Array, cases: Case[]) => { out: number[]; untouched: boolean }[];

const decode = (base64: string) => Uint8Array.from(Buffer.from(base64, 'base64'));

/** float64 C of a case, and the bound on float32 rounding: (k + 2)·2⁻²⁴·Σ|a·b| per entry. */
function reference(c: Case): { want: number[]; bound: number[] } {
  const want: number[] = [];
  const bound: number[] = [];
  for (let t = 0; t < c.batch; t++) {
    const offA = c.broadcast === 'a' ? 0 : t * c.m * c.k;
    const offB = c.broadcast === 'b' ? 0 : t * c.k * c.n;
    for (let i = 0; i < c.m; i++)
      for (let j = 0; j < c.n; j++) {
        let sum = c.bias ? Math.fround(value(j, 3)) : 0;
        let size = Math.abs(sum);
        for (let p = 0; p < c.k; p++) {
          const a = Math.fround(value(offA + i * c.k + p, 1));
          const b = Math.fround(value(offB + (c.transposed ? j * c.k + p : p * c.n + j), 2));
          sum += a * b;
          size += Math.abs(a * b);
        }
        want.push(sum);
        bound.push((c.k + 2) * 2 ** -24 * size + 1e-30);
      }
  }
  return { want, bound };
}

// A·B: up to 64 rows, pairs of rows streaming blocks of B's rows (128 KB: 108 rows at N = 301),
// past 64 tiles 4 × 8 in blocks 256 deep and 256 wide. A·Bᵀ: tiles, or dots at M = 1.
const shapes: [number, number, number][] = [
  [1, 1, 1],
  [1, 13, 7],
  [1, 300, 520],
  [2, 9, 5],
  [3, 8, 4],
  [5, 17, 3],
  [7, 300, 9],
  [13, 23, 600],
  [4, 8, 0],
  [9, 64, 64],
  [3, 301, 250],
  [70, 21, 300],
];
const cases: Case[] = shapes.flatMap(([m, n, k], s) =>
  [false, true].map((transposed) => ({
    m,
    n,
    k,
    transposed,
    batch: s % 3 === 0 ? 1 : 3,
    broadcast: (['none', 'a', 'b'] as const)[s % 3],
    bias: s % 2 === 1 || k === 0,
  })),
);

function check(results: ReturnType<Run>) {
  results.forEach(({ out, untouched }, i) => {
    const { want, bound } = reference(cases[i]);
    const label = JSON.stringify(cases[i]);
    expect(untouched, label).toBe(true);
    expect(out.length, label).toBe(want.length);
    const worst = Math.max(0, ...out.map((x, q) => Math.abs(x - want[q]) / bound[q]));
    expect(worst, label).toBeLessThanOrEqual(1); // NaN (an unwritten entry) fails too
  });
}

/** A runner (RUN_CASES) on the plain module here, or on the relaxed one in a Node that validates it. */
function run<C, R>(variant: 'simd' | 'relaxed', list: C[], runner = RUN_CASES): R[] {
  if (variant === 'simd')
    return (new Function(`return ${runner}`)() as (b: Uint8Array, c: C[]) => R[])(
      decode(GEMM_SIMD),
      list,
    );
  const script = `const run = ${runner};
    const { bytes, cases } = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    process.stdout.write(JSON.stringify(run(Buffer.from(bytes, 'base64'), cases)));`;
  const output = execFileSync(
    process.execPath,
    ['--experimental-wasm-relaxed-simd', '-e', script],
    {
      input: JSON.stringify({ bytes: GEMM_RELAXED, cases: list }),
      maxBuffer: 1 << 26,
    },
  );
  return JSON.parse(output.toString()) as R[];
}

/**
 * A product with B [k, n] (or [n, k], transposed: a tied embedding's rows) as 16-bit codes
 * (codes.h): m rows of A, a batch of 1 or 3.
 */
interface CodedCase {
  transposed: boolean;
  m: number;
  n: number;
  k: number;
  batch: number;
  /** One B for the whole batch. */
  broadcastB: boolean;
  bias: boolean;
  /** A's magnitude: 1e8 makes x · 2^(e−127) overflow, so one row takes the unscaled loop. */
  xScale: number;
  /** Columns cut in two parts at 16 (as the thread pool cuts them). */
  parts: boolean;
}

/**
 * Each case through gemm_part with B as codes, and through gemm_nn with B as the floats those
 * codes stand for (decoded here, independently of the kernels), and B's codes through
 * widen_codes: returns the three outputs. The codes mix both signs, zeros and 20 exponents.
 */
const RUN_CODED = `(bytes, cases) => {
  const module = new WebAssembly.Module(bytes);
  const pair = (q) => (q < 4 ? 2 * q : 2 * q - 7);
  // codes.h: by rows (columns paired in words), or in row groups (rows paired at each depth)
  const slot = (r, q, rows, cols, grouped) =>
    (grouped ? r : q) >= ((grouped ? rows : cols) & ~7) ? r * cols + q
      : grouped ? (r & ~7) * cols + 8 * q + pair(r & 7) : r * cols + (q & ~7) + pair(q & 7);
  const bcode = 240; // 2^(c − 14) · (1 + m/1024): 2^-13 … 2^6
  return cases.map((c) => {
    const memory = new WebAssembly.Memory({ initial: 512 });
    const g = new WebAssembly.Instance(module, { env: { memory } }).exports;
    const f = new Float32Array(memory.buffer);
    const h = new Uint16Array(memory.buffer);
    f.fill(NaN);
    const batchB = c.broadcastB ? 1 : c.batch;
    const [sizeA, sizeB, sizeC] = [c.batch * c.m * c.k, batchB * c.k * c.n, c.batch * c.m * c.n];
    const place = { a: 64 };
    place.codes = place.a + sizeA + 16;
    place.b = place.codes + Math.ceil(sizeB / 2) + 16;
    place.bias = place.b + sizeB + 16;
    place.c = place.bias + c.n + 16;
    place.plain = place.c + sizeC + 16;
    place.wide = place.plain + sizeC + 16;
    place.scratch = place.wide + sizeB + 16;
    for (let i = 0; i < sizeA; i++) f[place.a + i] = Math.sin(i * 0.731 + 1) * (1 + (i % 5)) * c.xScale;
    for (let i = 0; i < c.n; i++) f[place.bias + i] = Math.sin(i * 0.731 + 3);
    for (let i = 0; i < sizeB; i++)
      h[place.codes * 2 + i] = i % 17 === 0 ? (i & 1) << 15
        : ((i * 40503) & 0x8000) | ((1 + ((i * 13) % 20)) << 10) | ((i * 977) % 1024);
    // B's rows: k of n codes, or n of k (transposed)
    const [rows, cols] = c.transposed ? [c.n, c.k] : [c.k, c.n];
    for (let t = 0; t < batchB; t++)
      for (let r = 0; r < rows; r++)
        for (let q = 0; q < cols; q++) {
          const code = h[place.codes * 2 + t * rows * cols + slot(r, q, rows, cols, c.transposed)];
          const field = (code >> 10) & 31;
          const sign = code & 0x8000 ? -1 : 1;
          f[place.b + (t * rows + r) * cols + q] =
            field === 0 ? sign * 0 : sign * (1 + (code & 1023) / 1024) * 2 ** (field + bcode - 254);
        }
    const bias = c.bias ? place.bias * 4 : 0;
    const sb = c.broadcastB ? 0 : c.k * c.n;
    const cuts = c.parts && c.n > 16 ? [[0, 16], [16, c.n]] : [[0, c.n]];
    for (const [j1, j2] of cuts)
      g.gemm_part(2 * bcode + (c.transposed ? 1 : 0), place.a * 4, place.codes * 4, place.c * 4, bias, c.m, c.n, c.k, c.m * c.k, sb,
        0, c.batch, j1, j2, place.scratch * 4);
    (c.transposed ? g.gemm_nt : g.gemm_nn)(place.a * 4, place.b * 4, place.plain * 4, bias, c.m, c.n, c.k, c.batch, c.m * c.k, sb,
      place.scratch * 4);
    for (let t = 0; t < batchB; t++)
      g.widen_codes(place.codes * 4 + t * rows * cols * 2, (place.wide + t * rows * cols) * 4, rows,
        cols, 0, rows, bcode, c.transposed ? 1 : 0);
    const read = (from, size) => Array.from(f.subarray(from, from + size));
    return { coded: read(place.c, sizeC), plain: read(place.plain, sizeC), wide: read(place.wide, sizeB),
      floats: read(place.b, sizeB) };
  });
}`;

// One row (a generation step, the LM head: widened in registers), up to 64 (blocks widened into
// the scratch area, then streamed), past 64 and column parts (packed panels); groups of 8 and the
// last columns of a row (n mod 8, or k mod 8 transposed).
const codedShapes: [number, number, number][] = [
  [1, 8, 16],
  [1, 13, 7],
  [1, 300, 520],
  [2, 9, 5],
  [3, 16, 40],
  [7, 300, 9],
  [13, 23, 600],
  [64, 40, 70],
  [65, 37, 30],
  [130, 301, 250],
];
const codedCases: CodedCase[] = [false, true].flatMap((transposed) =>
  [
    ...codedShapes.map(([m, n, k], s) => ({
      ...{ transposed, m, n, k, batch: s % 3 === 0 ? 1 : 3, broadcastB: s % 3 === 1 },
      ...{ bias: s % 2 === 1, xScale: 1, parts: s % 4 === 2 },
    })),
    { transposed, m: 1, n: 300, k: 520, batch: 1, broadcastB: false, bias: true, xScale: 1e8 },
  ].map((c) => ({ parts: false, ...c })),
);

describe('gemm.c', () => {
  for (const variant of ['simd', 'relaxed'] as const) {
    it(`${variant}: equals a float64 product on every shape, batch and broadcast`, () => {
      check(run<Case, ReturnType<Run>[number]>(variant, cases));
    });

    // A generation step or the last position (M = 1) gets the bits that row gets among a few
    // rows (streamed) or many (tiles).
    it(`${variant}: a row alone gives the same bits as in a block of rows`, () => {
      const shape = { n: 37, k: 133, batch: 1, broadcast: 'none', bias: true } as const;
      const list = [false, true].flatMap((transposed) =>
        [1, 6, 70].map((m) => ({ ...shape, m, transposed })),
      );
      const [nnAlone, nnFew, nnMany, ntAlone, ntFew, ntMany] = run<Case, ReturnType<Run>[number]>(
        variant,
        list,
      ).map((r) => r.out);
      for (const block of [nnFew, nnMany]) expect(nnAlone).toEqual(block.slice(0, shape.n));
      for (const block of [ntFew, ntMany]) expect(ntAlone).toEqual(block.slice(0, shape.n));
    });

    it(`${variant}: with B as 16-bit codes, the bits of the product with the codes' floats`, () => {
      type Out = Record<'coded' | 'plain' | 'wide' | 'floats', number[]>;
      run<CodedCase, Out>(variant, codedCases, RUN_CODED).forEach((r, i) => {
        const label = JSON.stringify(codedCases[i]);
        expect(r.coded.every(Number.isFinite), label).toBe(true);
        expect(r.coded, label).toEqual(r.plain); // toEqual tells −0 from 0
        expect(r.wide, label).toEqual(r.floats);
      });
    });
  }

  // wasm-ld gives the module a stack pointer at an address of its own choosing, which in tfjs's
  // memory belongs to tfjs: code that used it (a spilled array) would overwrite tfjs's data.
  it('never touches a stack or any global of its own', async () => {
    const wabt = await (await import('wabt')).default();
    for (const bytes of [GEMM_SIMD, GEMM_RELAXED, GEMM_SIMD_SHARED, GEMM_RELAXED_SHARED]) {
      const module = wabt.readWasm(decode(bytes), {
        simd: true,
        bulk_memory: true,
        relaxed_simd: true,
        threads: true,
      });
      const text = module.toText({});
      module.destroy();
      expect(text).toContain('(import "env" "memory"');
      expect(text).not.toMatch(/global\.(get|set)|\(data/);
    }
  });
});

describe('through tfjs on wasm', () => {
  beforeAll(async () => {
    expect(await tf.setBackend('wasm')).toBe(true);
    await tf.ready();
    installWasmKernels();
  });

  it('runs on our kernels in Node (plain SIMD)', () => {
    expect(gemmVariant()).toBe('simd');
    expect(hasGemm(tf.backend() as BackendWasm)).toBe(true);
  });
});
