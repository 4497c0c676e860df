/**
 * The checkpoint reader's costs that grow with the file (docs/reliability.md, docs/checkpoints.md):
 *  - `header`: a small model whose safetensors header is ~55 MB (800,000 one-element I64 buffers
 *    beside its weights: buffers are skipped, so it loads), streamed in 64 kB chunks through the
 *    worker's loader (`modelFiles` → `loadModel`, no cache) as a URL model; the load's wall and
 *    CPU time (the CPU time is what a busy machine does not inflate) and the process's peak
 *    resident memory above what it held before the load, in a fresh process each run;
 *  - `f16`: `readFloat32` on 50 M halves (F16, then BF16).
 *
 *   npx tsx scripts/bench-reader.ts [header|f16]
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseSafetensors, readFloat32, type SafetensorsFile } from '../src/model/safetensors';
import { loadModel } from '../src/workers/loading';
import { modelFiles } from '../src/workers/modelFiles';
import { TEST_MODEL_CONFIG } from './lib/harness';
import { useFastestNodeBackend } from './lib/node-model';
import { randomCheckpoint } from './make-random-gpt2';

const BUFFERS = 600_000;
const CHUNK = 65_536;
const HALVES = 50_000_000;

/** The random test model plus `BUFFERS` I64 buffers, all in one header. */
function bigHeaderCheckpoint(): Uint8Array {
  const model = parseSafetensors(randomCheckpoint(TEST_MODEL_CONFIG, 'F32', 1).safetensors);
  const header: Record<string, unknown> = {};
  for (const [name, e] of model.entries) {
    header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [e.begin, e.end] };
  }
  let end = model.data.byteLength;
  for (let i = 0; i < BUFFERS; i++, end += 8) {
    header[`buffers.${String(i).padStart(7, '0')}.position_ids`] = {
      dtype: 'I64',
      shape: [1],
      data_offsets: [end, end + 8],
    };
  }
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.byteLength + end);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.byteLength), true);
  out.set(text, 8);
  out.set(model.data, 8 + text.byteLength);
  return out;
}

/** A server for `http://bench.test/m/`: the config, and the weights in CHUNK-byte pieces. */
function serverOf(weights: Uint8Array): typeof fetch {
  return (async (input: URL | RequestInfo) => {
    const url = String(input);
    if (url.endsWith('/config.json')) return new Response(JSON.stringify(TEST_MODEL_CONFIG));
    if (!url.endsWith('/model.safetensors')) return new Response(null, { status: 404 });
    let offset = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= weights.byteLength) return controller.close();
        controller.enqueue(weights.slice(offset, offset + CHUNK));
        offset += CHUNK;
      },
    });
    return new Response(body, { headers: { 'Content-Length': String(weights.byteLength) } });
  }) as typeof fetch;
}

/** One load, in this process: prints its seconds, the header's size and the peak RSS. */
async function headerRun(): Promise<void> {
  await useFastestNodeBackend();
  const weights = bigHeaderCheckpoint();
  const headerBytes = Number(new DataView(weights.buffer).getBigUint64(0, true));
  // What building the file left behind goes first: the baseline is the file and the runtime.
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage().rss;
  const cpu = process.cpuUsage();
  const files = modelFiles(
    { kind: 'url', url: 'http://bench.test/m/' },
    'http://bench.test/',
    serverOf(weights),
    new AbortController().signal,
    null,
  );
  const start = performance.now();
  await loadModel(files, { budget: 2 ** 31, progress: () => {}, isSuperseded: () => false });
  const seconds = (performance.now() - start) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  const peak = process.resourceUsage().maxRSS * 1024;
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
  console.log(
    `header ${mb(headerBytes)}: load ${seconds.toFixed(1)} s (CPU ${((user + system) / 1e6).toFixed(1)} s), peak RSS ${mb(peak)} = ${mb(baseline)} before + ${mb(peak - baseline)}`,
  );
}

function f16Run(): void {
  const bytes = new Uint8Array(HALVES * 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
  for (const dtype of ['F16', 'BF16'] as const) {
    const file: SafetensorsFile = {
      entries: new Map([['w', { dtype, shape: [HALVES], begin: 0, end: bytes.byteLength }]]),
      metadata: {},
      data: bytes,
    };
    const start = performance.now();
    const cpu = process.cpuUsage();
    readFloat32(file, 'w');
    const { user, system } = process.cpuUsage(cpu);
    const seconds = (performance.now() - start) / 1000;
    console.log(
      `${dtype}: ${HALVES / 1e6} M values in ${seconds.toFixed(2)} s (CPU ${((user + system) / 1e6).toFixed(2)} s)`,
    );
  }
}

const mode = process.argv[2];
if (mode === 'header-run') await headerRun();
else if (mode === 'f16') f16Run();
else if (mode === 'header' || mode === undefined) {
  // A fresh process per run: the peak resident memory is that load's alone.
  for (let run = 0; run < 3; run++) {
    const script = fileURLToPath(import.meta.url);
    const out = execFileSync('node', ['--expose-gc', '--import', 'tsx', script, 'header-run'], {
      encoding: 'utf8',
    });
    console.log(out.trim());
  }
  if (mode === undefined) f16Run();
}
