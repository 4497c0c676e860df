/**
 * Where a model's files come from: the app's own `models/NAME/` folder, a Hugging Face model id,
 * any URL folder, or files the user picked. Small files (JSON, SentencePiece models) are read
 * whole. The weights are read so that peak memory stays at one copy of the file: the
 * safetensors header is read first, the size and the float32 bytes it describes are checked
 * against the budget (so a model too big for the device is refused before it downloads), then
 * the rest streams into ONE buffer of the file's exact size. Where they are cached, they stream
 * to disk first (checked the same way on the fly, nothing kept) and are read back from there.
 */
import { ModelCache } from './modelCache';
import type { ModelSource, WeightsOrigin } from './protocol';

export type Progress = (loaded: number, total: number) => void;

/** The network failed, the server refused (CORS), or answered with an HTTP error. */
export class FetchError extends Error {
  override name = 'FetchError';
}

/** A file is absent, cut short or not what it should be, or the model is too big to load. */
export class ModelFileError extends Error {
  override name = 'ModelFileError';
  constructor(
    readonly code: 'missing' | 'corrupt' | 'too-large',
    message: string,
  ) {
    super(message);
  }
}

export interface Weights {
  /** All of `model.safetensors`, in a buffer of exactly its size. */
  bytes: Uint8Array;
  /** What the tensors the header lists take as float32. */
  float32Bytes: number;
  from: WeightsOrigin;
}

export interface ModelFiles {
  /** A name to show: the Hub id, the shipped name, the URL's last folder, or the weights' file name. */
  name: string;
  /**
   * The file's bytes, or null when an optional file is absent (404 / not picked); a `required`
   * file that is absent throws a ModelFileError that says where it was looked for.
   */
  read(file: string, required?: boolean): Promise<Uint8Array | null>;
  /** `model.safetensors`, checked against `budget` (float32 bytes) before it is read in full. */
  readWeights(
    budget: number,
    onProgress: (stage: string, loaded: number, total: number) => void,
  ): Promise<Weights>;
  /** The load failed: forget what it cached. */
  discard(): Promise<void>;
}

export const HUB = 'https://huggingface.co/';
const WEIGHTS = 'model.safetensors';
/** Headers above this are not plausible for a model file (as in src/model/safetensors.ts). */
const MAX_HEADER_BYTES = 100_000_000;
const GIB = 2 ** 30;
const MAX_BUDGET = 2 * GIB;

/**
 * Float32 weight bytes a load may take: a quarter of the memory the browser reports
 * (`navigator.deviceMemory`), at most 2 GiB; 2 GiB where the browser does not say. The weights
 * live as float32 textures, the download needs one more copy of the file while it is turned
 * into them, and the trace of a long input needs room too. 2 GiB admits GPT-2 medium (1.5 GB
 * with its stored attention masks) and refuses GPT-2 large (3.1 GB).
 */
export function weightBudget(deviceMemoryGiB: number | undefined): number {
  return Math.min(MAX_BUDGET, ((deviceMemoryGiB || Infinity) * GIB) / 4);
}

/** `1.50 GB`, `548.1 MB`, `12 kB`: decimal units, as download sizes are usually given. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(0)} kB`;
  return `${bytes} B`;
}

/**
 * What the user typed into the model box: an absolute URL (a folder or a file in it), or a
 * Hugging Face model id such as `gpt2` or `Helsinki-NLP/opus-mt-en-it` (optionally `@revision`).
 */
export function sourceFromText(text: string): ModelSource | null {
  const t = text.trim();
  // A repository's page on the Hub (`https://huggingface.co/gpt2`, `…/tree/REVISION`) means its id.
  const page =
    /^https?:\/\/huggingface\.co\/([\w.-]+(?:\/[\w.-]+)?)\/?(?:tree\/([^/]+)\/?)?$/i.exec(t);
  if (page && !page[1].includes('..')) return hubSource(page[1], page[2]);
  if (/^https?:\/\//i.test(t)) return { kind: 'url', url: t };
  const id = /^([\w.-]+(?:\/[\w.-]+)?)(?:@([\w./-]+))?$/.exec(t);
  if (!id || id[1].includes('..')) return null;
  return hubSource(id[1], id[2]);
}

function hubSource(id: string, revision: string | undefined): ModelSource {
  return { kind: 'hub', id, ...(revision ? { revision } : {}) };
}

// ---------------------------------------------------------------------------------------------
// The weights: header first, then one buffer

interface Layout {
  /** Size of the whole file as the header describes it: 8 + header + data. */
  fileBytes: number;
  float32Bytes: number;
}

/**
 * Sizes from the start of a safetensors file, or null while the header has not all arrived.
 * Checks only what the sizes need; `parseSafetensors` validates every entry once all is read.
 */
function layoutOf(prefix: Uint8Array, total: number): Layout | null {
  if (prefix.byteLength < 8) return null;
  const headerBytes = Number(
    new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true),
  );
  if (headerBytes > MAX_HEADER_BYTES || (total > 0 && 8 + headerBytes > total)) {
    throw new ModelFileError(
      'corrupt',
      `model.safetensors is truncated or not a safetensors file: its first 8 bytes give a header of ${headerBytes} bytes`,
    );
  }
  if (prefix.byteLength < 8 + headerBytes) return null;
  let header: Record<string, { shape?: unknown; data_offsets?: unknown }>;
  try {
    header = JSON.parse(new TextDecoder().decode(prefix.subarray(8, 8 + headerBytes)));
  } catch (e) {
    throw new ModelFileError(
      'corrupt',
      `model.safetensors has a corrupt header: not valid JSON (${(e as Error).message})`,
    );
  }
  let dataBytes = 0;
  let elements = 0;
  for (const [name, entry] of Object.entries(header ?? {})) {
    if (name === '__metadata__' || typeof entry !== 'object' || entry === null) continue;
    const { shape, data_offsets: offsets } = entry;
    if (Array.isArray(shape)) elements += shape.reduce((a: number, b) => a * Number(b), 1);
    if (Array.isArray(offsets)) dataBytes = Math.max(dataBytes, Number(offsets[1]) || 0);
  }
  return { fileBytes: 8 + headerBytes + dataBytes, float32Bytes: elements * 4 };
}

function tooLarge(what: string, budget: number): ModelFileError {
  return new ModelFileError(
    'too-large',
    `${what}, more than this device's budget of ${formatBytes(budget)} for weights (a quarter of its memory, at most 2 GiB; see docs/checkpoints.md)`,
  );
}

function truncated(loaded: number, fileBytes: number): ModelFileError {
  return new ModelFileError(
    'corrupt',
    `model.safetensors is truncated: ${loaded} of the ${fileBytes} bytes its header describes arrived`,
  );
}

/**
 * The start of a safetensors stream, chunk by chunk, until its header is in: then the sizes it
 * gives are checked against the budget and the announced length. Throws what is wrong.
 */
class HeaderCheck {
  /** The chunks seen until the header was complete (kilobytes). */
  readonly head: Uint8Array[] = [];
  headBytes = 0;
  layout: Layout | null = null;

  constructor(
    private readonly announced: number,
    private readonly budget: number,
  ) {
    // Float32 needs at least as many bytes as the file has (F16/BF16 files need twice as many).
    if (announced > budget)
      throw tooLarge(`model.safetensors is ${formatBytes(announced)}`, budget);
  }

  /** Take the next chunk; the layout once the header is complete. */
  feed(chunk: Uint8Array): Layout | null {
    if (this.layout) return this.layout;
    this.head.push(chunk);
    this.headBytes += chunk.byteLength;
    const prefix = this.head.length === 1 ? chunk : concat(this.head, this.headBytes);
    const layout = layoutOf(prefix, this.announced);
    if (!layout) return null;
    if (layout.float32Bytes > this.budget) {
      throw tooLarge(
        `the model needs ${formatBytes(layout.float32Bytes)} as float32 (${(layout.float32Bytes / 4e6).toFixed(0)} M parameters in model.safetensors)`,
        this.budget,
      );
    }
    if (this.announced > 0 && this.announced !== layout.fileBytes) {
      throw new ModelFileError(
        'corrupt',
        `model.safetensors is ${this.announced} bytes but its header describes ${layout.fileBytes}: ${this.announced < layout.fileBytes ? 'the file is truncated' : 'it has bytes after its last tensor'}`,
      );
    }
    this.layout = layout;
    return layout;
  }

  /** The stream ended: it must not have ended inside the header. */
  end(): Layout {
    if (!this.layout) {
      throw new ModelFileError(
        'corrupt',
        `model.safetensors is truncated: it ends after ${this.headBytes} bytes, inside its header`,
      );
    }
    return this.layout;
  }
}

/**
 * Read a safetensors stream: the header first (checked against `budget`), then the rest into
 * one preallocated buffer. `announced` is the Content-Length or file size (0 when unknown).
 */
async function readSafetensors(
  stream: ReadableStream<Uint8Array>,
  announced: number,
  budget: number,
  onProgress: Progress,
): Promise<{ bytes: Uint8Array; float32Bytes: number }> {
  const reader = stream.getReader();
  try {
    const check = new HeaderCheck(announced, budget);
    for (let layout: Layout | null = null; !layout;) {
      const { done, value } = await reader.read();
      if (done) break;
      layout = check.feed(value);
      onProgress(check.headBytes, layout?.fileBytes ?? announced);
    }
    const { fileBytes, float32Bytes } = check.end();
    const bytes = new Uint8Array(fileBytes);
    let loaded = 0;
    const append = (chunk: Uint8Array) => {
      if (loaded + chunk.byteLength > fileBytes) {
        throw new ModelFileError(
          'corrupt',
          `model.safetensors is longer than the ${fileBytes} bytes its header describes`,
        );
      }
      bytes.set(chunk, loaded);
      loaded += chunk.byteLength;
    };
    check.head.forEach(append);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      append(value);
      onProgress(loaded, fileBytes);
    }
    if (loaded < fileBytes) throw truncated(loaded, fileBytes);
    onProgress(loaded, fileBytes);
    return { bytes, float32Bytes };
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
}

/**
 * A download on its way into the cache: every chunk passes through (nothing is kept), bytes
 * are reported, and the header is checked as soon as it is in; a problem errors the stream,
 * which stops the download and the write, and `problem()` says what it was. A file announced
 * bigger than the budget is refused here and now.
 */
function checkedDownload(
  announced: number,
  budget: number,
  onProgress: Progress,
): { stream: TransformStream<Uint8Array, Uint8Array>; problem(): unknown } {
  const check = new HeaderCheck(announced, budget);
  let problem: unknown = null;
  let loaded = 0;
  const checked = (step: () => void) => {
    try {
      step();
    } catch (e) {
      problem = e;
      throw e;
    }
  };
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      checked(() => check.feed(chunk));
      loaded += chunk.byteLength;
      onProgress(loaded, check.layout?.fileBytes ?? announced);
      controller.enqueue(chunk);
    },
    flush: () =>
      checked(() => {
        const { fileBytes } = check.end();
        if (loaded < fileBytes) throw truncated(loaded, fileBytes);
      }),
  });
  return { stream, problem: () => problem };
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sources

interface FetchedOptions {
  name: string;
  base: URL;
  fetchFn: typeof fetch;
  signal: AbortSignal;
  /** Null: no caching (shipped models, which the service worker keeps; Node tests). */
  cache: ModelCache | null;
  /** Said after "not found" for the Hub: what a 404 there usually means. */
  notFoundHint?: string;
}

/**
 * Why a fetch threw. Browsers give the same TypeError for a network failure and for a response
 * that CORS hides; asking again in `no-cors` mode tells them apart: an opaque answer means the
 * server is there but does not let this page read it.
 */
async function fetchFailure(
  url: URL,
  file: string,
  error: Error,
  fetchFn: typeof fetch,
  signal: AbortSignal,
): Promise<FetchError> {
  const crossOrigin = typeof location !== 'undefined' && url.origin !== location.origin;
  if (crossOrigin) {
    try {
      await fetchFn(url, { method: 'HEAD', mode: 'no-cors', signal });
      return new FetchError(
        `${url.host} does not let this page read ${file} (no CORS header Access-Control-Allow-Origin on ${url.href}); serve the folder with CORS, or download the files and open them with "open files…"`,
      );
    } catch {
      // unreachable in no-cors mode too: a network failure
    }
  }
  return new FetchError(
    `could not fetch ${file} from ${url.host}: network failure (${error.message}); are you offline, or is the URL wrong?`,
  );
}

function fetchedFiles(options: FetchedOptions): ModelFiles {
  const { name, base, fetchFn, signal, cache } = options;
  const urlOf = (file: string) => new URL(file, base);

  const missing = (file: string) =>
    new ModelFileError(
      'missing',
      `${file} is missing: ${urlOf(file).href} answered 404 (not found)${options.notFoundHint ?? ''}`,
    );

  /** `file` from the network: null on 404, the response otherwise; any other trouble throws. */
  async function download(file: string, controller: AbortController): Promise<Response | null> {
    const url = urlOf(file);
    let response: Response;
    try {
      response = await fetchFn(url, { signal: AbortSignal.any([signal, controller.signal]) });
    } catch (e) {
      if (signal.aborted) throw e;
      throw await fetchFailure(url, file, e as Error, fetchFn, signal);
    }
    if (response.status === 404) return null;
    if (response.status === 401 || response.status === 403) {
      throw new FetchError(
        `${url.href} answered HTTP ${response.status}: the repository does not exist, or is private or gated (only public models can be loaded)`,
      );
    }
    if (!response.ok || !response.body) {
      throw new FetchError(`fetching ${url.href} failed: HTTP ${response.status}`);
    }
    return response;
  }

  const lengthOf = (response: Response) => Number(response.headers.get('Content-Length')) || 0;

  /**
   * The weights into the cache, checked as they stream there: true once stored, false when the
   * cache could not take them (a full disk), throws for anything wrong with the download.
   */
  async function downloadToCache(
    store: ModelCache,
    controller: AbortController,
    budget: number,
    onProgress: Progress,
  ): Promise<boolean> {
    const response = await download(WEIGHTS, controller);
    if (!response) throw missing(WEIGHTS);
    const announced = lengthOf(response);
    const checked = checkedDownload(announced, budget, onProgress);
    const body = response.body!.pipeThrough(checked.stream, { signal: controller.signal });
    const headers = announced ? { 'Content-Length': String(announced) } : undefined;
    const failed = await store.put(urlOf(WEIGHTS).href, new Response(body, { headers }));
    if (!failed) return true;
    if (checked.problem()) throw checked.problem();
    if (signal.aborted) throw new DOMException('superseded', 'AbortError');
    if (failed instanceof DOMException && failed.name === 'QuotaExceededError') return false;
    throw new FetchError(
      `the download of ${WEIGHTS} from ${urlOf(WEIGHTS).host} broke off: ${(failed as Error).message}`,
    );
  }

  return {
    name,
    async read(file, required = false) {
      const href = urlOf(file).href;
      const hit = await cache?.match(href);
      let bytes: Uint8Array | null;
      if (hit) {
        bytes = hit.status === 404 ? null : new Uint8Array(await hit.arrayBuffer());
      } else {
        const response = await download(file, new AbortController());
        bytes = response ? new Uint8Array(await response.arrayBuffer()) : null;
        // An absent optional file is remembered too: a second visit need not ask.
        await cache?.put(
          href,
          bytes
            ? new Response(bytes as Uint8Array<ArrayBuffer>, {
                headers: { 'Content-Length': String(bytes.byteLength) },
              })
            : new Response(null, { status: 404 }),
        );
      }
      if (!bytes && required) throw missing(file);
      return bytes;
    },
    async readWeights(budget, onProgress) {
      const controller = new AbortController();
      try {
        let from: WeightsOrigin = 'cache';
        let stored = await cache?.match(urlOf(WEIGHTS).href);
        if (cache && !stored) {
          const progress: Progress = (l, t) => onProgress('download', l, t);
          if (await downloadToCache(cache, controller, budget, progress)) {
            stored = await cache.match(urlOf(WEIGHTS).href);
            from = 'network';
          }
        }
        if (stored?.body) {
          const read = await readSafetensors(stored.body, lengthOf(stored), budget, (l, t) =>
            onProgress('cache', l, t),
          );
          return { ...read, from };
        }
        // No cache here (or it was full): straight from the network into the buffer.
        const response = await download(WEIGHTS, controller);
        if (!response) throw missing(WEIGHTS);
        const read = await readSafetensors(response.body!, lengthOf(response), budget, (l, t) =>
          onProgress('download', l, t),
        );
        return { ...read, from: 'network' };
      } catch (e) {
        controller.abort();
        throw e;
      }
    },
    discard: async () => cache?.discard(),
  };
}

function pickedFiles(files: File[]): ModelFiles {
  const weights = files.find((f) => f.name.endsWith('.safetensors'));
  return {
    name: weights ? weights.name.replace(/\.safetensors$/, '') : 'picked files',
    async read(file, required = false) {
      const picked = files.find((f) => f.name === file);
      if (!picked && required) {
        throw new ModelFileError('missing', `${file} is missing: pick it together with the others`);
      }
      return picked ? new Uint8Array(await picked.arrayBuffer()) : null;
    },
    async readWeights(budget, onProgress) {
      if (!weights) {
        throw new ModelFileError(
          'missing',
          'model.safetensors is missing: pick it together with the others',
        );
      }
      const read = await readSafetensors(weights.stream(), weights.size, budget, (l, t) =>
        onProgress('file', l, t),
      );
      return { ...read, from: 'file' };
    },
    discard: async () => {},
  };
}

/**
 * The files of a model source. Shipped models live under `models/NAME/` relative to `pageUrl`;
 * a URL names a folder, or a file inside it whose folder is used; a Hub id names a repository.
 * `cache` keeps Hub and URL files (null: no caching).
 */
export function modelFiles(
  source: ModelSource,
  pageUrl: string,
  fetchFn: typeof fetch,
  signal: AbortSignal,
  cache: CacheStorage | null,
): ModelFiles {
  const modelCache = cache ? new ModelCache(cache) : null;
  switch (source.kind) {
    case 'shipped':
      return fetchedFiles({
        name: source.name,
        base: new URL(`models/${encodeURIComponent(source.name)}/`, pageUrl),
        fetchFn,
        signal,
        cache: null,
      });
    case 'hub': {
      const revision = encodeURIComponent(source.revision ?? 'main');
      return fetchedFiles({
        name: source.id,
        base: new URL(`${source.id}/resolve/${revision}/`, HUB),
        fetchFn,
        signal,
        cache: modelCache,
        notFoundHint:
          '; check the model id (and revision), and that the repository has a model.safetensors (some only have pytorch_model.bin)',
      });
    }
    case 'url': {
      const url = new URL(source.url, pageUrl);
      // `…/gpt2/model.safetensors` means its folder; `…/gpt2` (no dot in the last part) is one.
      if (/\.[^/]*$/.test(url.pathname)) url.pathname = url.pathname.replace(/[^/]*$/, '');
      else if (!url.pathname.endsWith('/')) url.pathname += '/';
      const name = url.pathname.split('/').filter(Boolean).pop() ?? url.host;
      return fetchedFiles({
        name: decodeURIComponent(name),
        base: url,
        fetchFn,
        signal,
        cache: modelCache,
      });
    }
    case 'files':
      return pickedFiles(source.files);
  }
}
