/**
 * Where a model's files come from: the app's own `models/NAME/` folder, a Hugging Face model id,
 * any URL folder, or files the user picked. Small files (JSON, SentencePiece models) are read
 * whole; weight files stream through the checks of `weightStream.ts` into one buffer. Where they
 * are cached, they stream to disk first (checked the same way on the fly, nothing kept) and are
 * read back from there.
 */
import { fetchFailure, FetchError, httpError, ModelFileError } from './fetchErrors';
import { ModelCache } from './modelCache';
import type { ModelSource, WeightsOrigin } from './protocol';
import { checkedDownload, readPytorchBin, readSafetensors, type Progress } from './weightStream';

export interface Weights {
  /** All of the weight file, in a buffer of exactly its size. */
  bytes: Uint8Array;
  /** What the tensors the header lists take as float32. */
  float32Bytes: number;
  from: WeightsOrigin;
}

export type StageProgress = (stage: string, loaded: number, total: number) => void;

export interface ModelFiles {
  /** A name to show: the Hub id, the shipped name, the URL's last folder, or the weights' file name. */
  name: string;
  /**
   * The file's bytes, or null when an optional file is absent (404 / not picked); a `required`
   * file that is absent throws a ModelFileError that says where it was looked for.
   */
  read(file: string, required?: boolean): Promise<Uint8Array | null>;
  /**
   * A weight file (`model.safetensors`, one shard of several, or `pytorch_model.bin`), checked
   * against `budget` (float32 bytes) before it is read in full. A `.bin` is never cached.
   */
  readWeights(file: string, budget: number, onProgress: StageProgress): Promise<Weights>;
  /** The load failed: forget what it cached. */
  discard(): Promise<void>;
}

export const HUB = 'https://huggingface.co/';
/** The weights of a checkpoint in one file, as the Hub names them. */
export const WEIGHTS = 'model.safetensors';

/** The reader of a weight file by its name: a `.bin` is torch's zip, anything else safetensors. */
function readerOf(file: string): typeof readSafetensors {
  return file.endsWith('.bin') ? readPytorchBin : readSafetensors;
}

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
    const error = httpError(url, response);
    if (error) throw error;
    return response;
  }

  const lengthOf = (response: Response) => Number(response.headers.get('Content-Length')) || 0;

  /**
   * A weight file into the cache, checked as it streams there: true once stored, false when the
   * cache could not take it (a full disk), throws for anything wrong with the download.
   */
  async function downloadToCache(
    file: string,
    store: ModelCache,
    controller: AbortController,
    budget: number,
    onProgress: Progress,
  ): Promise<boolean> {
    const response = await download(file, controller);
    if (!response) throw missing(file);
    const announced = lengthOf(response);
    const checked = checkedDownload(file, announced, budget, onProgress);
    const body = response.body!.pipeThrough(checked.stream, { signal: controller.signal });
    const headers = announced ? { 'Content-Length': String(announced) } : undefined;
    const failed = await store.put(urlOf(file).href, new Response(body, { headers }));
    if (!failed) return true;
    if (checked.problem()) throw checked.problem();
    if (signal.aborted) throw new DOMException('superseded', 'AbortError');
    if (failed instanceof DOMException && failed.name === 'QuotaExceededError') return false;
    throw new FetchError(
      `the download of ${file} from ${urlOf(file).host} broke off: ${(failed as Error).message}`,
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
    async readWeights(file, budget, onProgress) {
      const controller = new AbortController();
      try {
        let from: WeightsOrigin = 'cache';
        const readWeightFile = readerOf(file);
        // The cache's on-the-fly check reads safetensors headers only.
        const store = file.endsWith('.bin') ? null : cache;
        let stored = await store?.match(urlOf(file).href);
        if (store && !stored) {
          const progress: Progress = (l, t) => onProgress('download', l, t);
          if (await downloadToCache(file, store, controller, budget, progress)) {
            stored = await store.match(urlOf(file).href);
            from = 'network';
          }
        }
        if (stored?.body) {
          const read = await readWeightFile(file, stored.body, lengthOf(stored), budget, (l, t) =>
            onProgress('cache', l, t),
          );
          return { ...read, from };
        }
        // No cache here (or it was full): straight from the network into the buffer.
        const response = await download(file, controller);
        if (!response) throw missing(file);
        const read = await readWeightFile(
          file,
          response.body!,
          lengthOf(response),
          budget,
          (l, t) => onProgress('download', l, t),
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
  // Picked weights keep whatever name they were saved under: the one .safetensors file is them.
  const single = files.filter((f) => f.name.endsWith('.safetensors'));
  const weightsFile = (file: string) =>
    files.find((f) => f.name === file) ??
    (file === WEIGHTS && single.length === 1 ? single[0] : null);
  return {
    name: single.length === 1 ? single[0].name.replace(/\.safetensors$/, '') : 'picked files',
    async read(file, required = false) {
      const picked = files.find((f) => f.name === file);
      if (!picked && required) {
        throw new ModelFileError('missing', `${file} is missing: pick it together with the others`);
      }
      return picked ? new Uint8Array(await picked.arrayBuffer()) : null;
    },
    async readWeights(file, budget, onProgress) {
      const weights = weightsFile(file);
      if (!weights) {
        throw new ModelFileError('missing', `${file} is missing: pick it together with the others`);
      }
      const read = await readerOf(file)(file, weights.stream(), weights.size, budget, (l, t) =>
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
          '; check the model id (and revision), and that the repository has its weights as model.safetensors (or sharded), or pytorch_model.bin',
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
