/**
 * GFLOP/s of our wasm matrix products (src/model/kernels/gemm.c) against tfjs-wasm's XNNPACK on
 * GPT-2 small's shapes, in Node, one thread (docs/performance.md, "Own GEMM kernels"):
 *
 *   node --import tsx scripts/bench-gemm.ts                                   # plain SIMD
 *   node --experimental-wasm-relaxed-simd --import tsx scripts/bench-gemm.ts  # relaxed (FMA)
 *
 * XNNPACK gets the operands it wants (2-D, untransposed, one head at a time), made before the
 * clock starts, so its column is its best case; ours runs the model's own call.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-wasm';
import { gemmVariant } from '../src/model/kernels/gemm';
import { installWasmKernels } from '../src/model/wasmKernels';

const D = 768;
const VOCAB_CHUNK = 4096; // rows of one embedding chunk (params.ts); the head is 13 of them

/**
 * Milliseconds of CPU time per call of `run`, over at least 0.5 s of it: CPU time, not wall time,
 * so that other work on the machine's cores does not count.
 */
function time(run: () => void): number {
  run();
  const start = process.cpuUsage();
  let calls = 0;
  let used: NodeJS.CpuUsage;
  do {
    run();
    calls++;
    used = process.cpuUsage(start);
  } while (used.user + used.system < 500_000);
  return (used.user + used.system) / 1000 / calls;
}

const random = (shape: number[]) => tf.randomUniform(shape, -1, 1, 'float32', 7);

interface Case {
  name: string;
  flops: number;
  ours: () => tf.Tensor;
  xnnpack: () => tf.TensorInfo[];
}

function cases(raw: tf.KernelConfig, backend: BackendWasm): Case[] {
  const plain = (a: tf.Tensor, b: tf.Tensor) =>
    raw.kernelFunc({
      inputs: { a, b },
      backend,
      attrs: { transposeA: false, transposeB: false },
    }) as tf.TensorInfo;
  const list: Case[] = [];
  for (const m of [1, 16, 64, 256])
    for (const [name, k, n] of [
      ['c_attn', D, 3 * D],
      ['attn_proj', D, D],
      ['c_fc', D, 4 * D],
      ['mlp_proj', 4 * D, D],
    ] as const) {
      const [a, w, bias] = [random([m, k]), random([k, n]), random([n])];
      list.push({
        name: `${name} M=${m} (+bias)`,
        flops: 2 * m * k * n,
        ours: () => tf.fused.matMul({ a, b: w, bias }),
        xnnpack: () => [plain(a, w)],
      });
    }
  const h = random([1, D]);
  const chunk = random([VOCAB_CHUNK, D]);
  list.push({
    name: `head chunk h·Eᵀ M=1, ${VOCAB_CHUNK} rows`,
    flops: 2 * VOCAB_CHUNK * D,
    ours: () => tf.matMul(h, chunk, false, true),
    xnnpack: () => [plain(chunk, tf.transpose(h))], // (E·hᵀ), as the head ran before
  });
  for (const t of [64, 256]) {
    const [q, k, v] = [random([1, 12, t, 64]), random([1, 12, t, 64]), random([1, 12, t, 64])];
    const probs = random([1, 12, t, t]);
    const perHead = (x: tf.Tensor, transpose: boolean) =>
      tf.unstack(tf.reshape(x, x.shape.slice(1))).map((m) => (transpose ? tf.transpose(m) : m));
    const [qs, kTs, ps, vs] = [
      perHead(q, false),
      perHead(k, true),
      perHead(probs, false),
      perHead(v, false),
    ];
    list.push({
      name: `q·kᵀ 12 heads T=${t}`,
      flops: 2 * 12 * t * t * 64,
      ours: () => tf.matMul(q, k, false, true),
      xnnpack: () => qs.map((x, i) => plain(x, kTs[i])),
    });
    list.push({
      name: `p·v 12 heads T=${t}`,
      flops: 2 * 12 * t * t * 64,
      ours: () => tf.matMul(probs, v),
      xnnpack: () => ps.map((x, i) => plain(x, vs[i])),
    });
  }
  return list;
}

async function main() {
  if (!(await tf.setBackend('wasm'))) throw new Error('no wasm backend');
  await tf.ready();
  const backend = tf.backend() as BackendWasm;
  const raw = tf.getKernel('BatchMatMul', 'wasm')!; // tfjs's own, before ours replace it
  installWasmKernels();
  console.log(`our kernels: ${gemmVariant() ?? 'none (XNNPACK fallback)'}`);
  console.log('| product | ours GFLOP/s | XNNPACK GFLOP/s | ours ms | XNNPACK ms |');
  console.log('|---|---:|---:|---:|---:|');
  for (const c of cases(raw, backend)) {
    const ours = time(() => tf.dispose(c.ours()));
    const xnn = time(() => c.xnnpack().forEach((t) => backend.disposeData(t.dataId)));
    const rate = (ms: number) => (c.flops / ms / 1e6).toFixed(1);
    console.log(
      `| ${c.name} | ${rate(ours)} | ${rate(xnn)} | ${ours.toFixed(2)} | ${xnn.toFixed(2)} |`,
    );
  }
}

void main();
