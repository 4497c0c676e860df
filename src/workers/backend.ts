/**
 * Picks the tfjs backend inside the worker: WebGL first, then WebAssembly, then plain JavaScript,
 * and says why each better one was not used; WebGPU only when asked for (`?backend=webgpu`).
 * Runs only in the worker (it imports the wasm binaries as Vite asset URLs); Node tests pick
 * their backend themselves.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { type MathBackendWebGL, setWebGLContext } from '@tensorflow/tfjs-backend-webgl';
import {
  type BackendWasm,
  getThreadsCount,
  setThreadsCount,
  setWasmPaths,
} from '@tensorflow/tfjs-backend-wasm';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import threadedSimdFactory from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js';
import threadedSimdSource from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js?raw';
import type { BackendInfo, BackendName } from './protocol';
import { installWasmKernels } from '../model/wasmKernels';
import { gemmThreads, gemmVariant, hasGemm, startGemmThreads } from '../model/kernels/gemm';

export interface BackendOptions {
  /** Try this backend first (tests and the bench force one); the usual order follows if it fails. */
  preferred?: BackendName;
  /**
   * A canvas transferred from the page. Safari's workers cannot create a WebGL2 OffscreenCanvas
   * of their own, but can use one the page made with `transferControlToOffscreen`.
   */
  canvas?: OffscreenCanvas;
  /** wasm threads when cross-origin isolated (default: one per core, at most 4). */
  threads?: number;
}

const ORDER: BackendName[] = ['webgl', 'wasm', 'cpu'];

/**
 * WebGL implementations that emulate a GPU on the CPU. On them wasm is the faster backend
 * (SwiftShader: traced forwards 2.5–7× slower than wasm, head toggles 415 ms instead of 30 ms,
 * docs/performance.md), so they are used only when asked for with `?backend=webgl`.
 */
const SOFTWARE_RENDERER = /swiftshader|llvmpipe|softpipe|software rasterizer|basic render driver/i;

// Vite copies the binaries into the build and gives their hashed URLs; tfjs would otherwise look
// for them next to the worker script under their original names.
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmUrl,
  'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimdUrl,
});

// Cross-origin isolated (COOP/COEP headers, docs/performance.md), tfjs-wasm picks its threaded
// build and starts each thread from a Blob of `var WasmBackendModuleThreadedSimd = ` + the
// factory's source text (`factory.toString()`). Bundled and minified, that function refers to a
// variable of the scope around it (Emscripten's `_scriptDir`, renamed `e`), which the thread does
// not have: "ReferenceError: e is not defined", and the worker died. Emscripten's own file is
// self-contained, so the threads get that text instead.
threadedSimdFactory.toString = () =>
  `(() => {\n${threadedSimdSource}\nreturn WasmBackendModuleThreadedSimd;\n})()`;

/** Why the products run on one thread although more were asked for, if they do. */
let threadsProblem: string | null = null;

/**
 * Start tfjs-wasm with one thread per core, at most 4 (as ONNX Runtime Web caps its own), when the
 * page is cross-origin isolated (its threaded build, on a shared memory). The matrix products are
 * then ours, split over that many threads (kernels/gemmPool.ts: helpers are nested workers of
 * this one); tfjs's own thread pool gets one thread, since its XNNPACK products are not used and
 * its workers would spin on the same cores. If our helpers fail to start, the products run on
 * this thread alone, with a note. Where our kernels cannot run on a shared memory, tfjs's threads
 * multiply (XNNPACK). Its threaded build caps its count at half of `navigator.hardwareConcurrency`
 * (it assumes two hyper-threads per core), read once as its module starts: on two cores it would
 * never run a second thread. So the count is doubled for that start.
 */
async function setWasmBackend(threads?: number): Promise<boolean> {
  if (!self.crossOriginIsolated) return tf.setBackend('wasm');
  const cores = navigator.hardwareConcurrency || 1;
  const count = threads ?? Math.min(4, cores);
  const own = gemmVariant(true) !== null;
  setThreadsCount(own ? 1 : count);
  Object.defineProperty(navigator, 'hardwareConcurrency', { value: 2 * cores, configurable: true });
  let started: boolean;
  try {
    started = await tf.setBackend('wasm');
  } finally {
    delete (navigator as { hardwareConcurrency?: number }).hardwareConcurrency; // the real one again
  }
  if (!started || !own || count <= 1) return started;
  const spawn = () =>
    new Worker(new URL('./gemm.worker.ts', import.meta.url), { type: 'module', name: 'gemm' });
  try {
    await startGemmThreads(tf.backend() as BackendWasm, count, spawn);
  } catch (e) {
    threadsProblem = `${(e as Error).message || String(e)}; products on one thread`;
  }
  return true;
}

/** wasm's threads and whether our own matrix products (kernels/gemm.ts) run. */
function wasmThreads(): Pick<BackendInfo, 'threads' | 'ownGemm'> {
  const backend = tf.backend() as BackendWasm;
  const ownGemm = hasGemm(backend);
  const multiplied = ownGemm ? gemmThreads(backend) : getThreadsCount();
  return { threads: multiplied, ownGemm };
}

function webglContext(): WebGL2RenderingContext | null {
  const backend = tf.findBackend('webgl') as MathBackendWebGL | null;
  return (backend?.gpgpu.gl as WebGL2RenderingContext | undefined) ?? null;
}

function rendererOf(gl: WebGL2RenderingContext): string {
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

async function tryWebgl(
  canvas: OffscreenCanvas | undefined,
  allowSoftware: boolean,
): Promise<string | null> {
  if (canvas) {
    const gl = canvas.getContext('webgl2', { alpha: false, antialias: false, depth: false });
    if (!gl) return 'the canvas passed in by the page gives no WebGL2 context';
    setWebGLContext(2, gl);
  } else if (typeof OffscreenCanvas === 'undefined') {
    return 'no OffscreenCanvas in this worker';
  }
  if (!(await tf.setBackend('webgl'))) return 'no WebGL2 context in this worker';
  if (tf.env().getNumber('WEBGL_VERSION') !== 2) return 'only WebGL 1 is available';
  const renderer = rendererOf(webglContext()!);
  if (!allowSoftware && SOFTWARE_RENDERER.test(renderer)) {
    tf.removeBackend('webgl'); // frees its context
    return `${renderer} is a software renderer, slower than wasm (?backend=webgl uses it anyway)`;
  }
  return null;
}

/** WebGPU's backend is large and asked for only by URL, so it is loaded only then. */
async function tryWebgpu(): Promise<string | null> {
  if (!('gpu' in navigator)) return 'no WebGPU in this browser (navigator.gpu)';
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) return 'no WebGPU adapter';
  return null;
}

async function trySetBackend(name: BackendName, options: BackendOptions): Promise<string | null> {
  try {
    const problem =
      name === 'webgl'
        ? await tryWebgl(options.canvas, options.preferred === 'webgl')
        : name === 'webgpu'
          ? await tryWebgpu()
          : null;
    if (problem) return problem;
    const started =
      name === 'wasm'
        ? await setWasmBackend(options.threads)
        : name === 'cpu'
          ? await tf.setBackend('cpu')
          : true;
    if (!started) return 'failed to initialise';
    await tf.ready();
    if (name === 'wasm') installWasmKernels();
    // A context can exist and still fail on the first real kernel (float textures, shader limits).
    const probe = tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([3, 2])));
    const value = (await probe.data())[0];
    probe.dispose();
    return value === 3 ? null : `a test matrix product gave ${value} instead of 3`;
  } catch (e) {
    return (e as Error).message || String(e);
  }
}

/** Set the best backend that works and describe the choice. Throws only if not even cpu works. */
export async function selectBackend(options: BackendOptions = {}): Promise<BackendInfo> {
  const order = options.preferred
    ? [options.preferred, ...ORDER.filter((b) => b !== options.preferred)]
    : ORDER;
  const fallbacks: string[] = [];
  for (const name of order) {
    const problem = await trySetBackend(name, options);
    if (problem === null) {
      const gl = name === 'webgl' ? webglContext() : null;
      if (name === 'wasm' && threadsProblem) fallbacks.push(`wasm threads: ${threadsProblem}`);
      return {
        backend: name,
        fallbacks,
        ...(gl ? { renderer: rendererOf(gl) } : {}),
        ...(name === 'wasm' ? wasmThreads() : {}),
      };
    }
    fallbacks.push(`${name}: ${problem}`);
  }
  throw new Error(`no tfjs backend works here (${fallbacks.join('; ')})`);
}

/** Call `onLost` when the browser takes the WebGL context away (GPU reset, driver crash, tab limit). */
export function watchContextLoss(onLost: () => void): void {
  const canvas = webglContext()?.canvas;
  canvas?.addEventListener('webglcontextlost', onLost);
}

/** Tests force a real context loss through the WEBGL_lose_context extension. */
export function loseContextForTesting(): boolean {
  const extension = webglContext()?.getExtension('WEBGL_lose_context');
  extension?.loseContext();
  return Boolean(extension);
}
