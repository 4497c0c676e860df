/**
 * Where a model's files come from: the app's own `models/NAME/` folder, a Hugging Face model id,
 * any URL folder, or files the user picked. Small files (JSON, SentencePiece models) are read
 * whole; weight files stream through the checks of `weightStream.ts` into one buffer. Where they
 * are cached, they stream to disk first (checked the same way on the fly, nothing but the parsed
 * header kept) and are read back from there; a later load asks the server whether each stored
 * file is still current (modelCache.ts, docs/checkpoints.md).
 */
import { fetchFailure, FetchError, httpError, isCrossOrigin, ModelFileError } from './fetchErrors';
import { conditionsFor, isCurrent, ModelCache, validatorsOf } from './modelCache';
import type { ModelSource, WeightsOrigin } from './protocol';
import {
  checkedDownload,
  readPytorchBin,
  readSafetensors,
  type KnownHeader,
  type Progress,
  type WeightRead,
} from './weightStream';

export interface Weights extends WeightRead {
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
  /** What the user should know about how the files were read (offline: cached copies used). */
  notices(): string[];
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

/**
 * How long a request that asks whether a stored file is current may wait for an answer before
 * the stored copy is used: a network that hangs must not cost a model the cache holds (the
 * client fails a load after 60 s without progress).
 */
export const REVALIDATION_MS = 10_000;

/** The stored copy, still current; or what the server answered instead (null: 404). */
type Current = { stored: Response } | { answer: Response | null };

function fetchedFiles(options: FetchedOptions): ModelFiles {
  const { name, base, fetchFn, signal, cache } = options;
  const urlOf = (file: string) => new URL(file, base);
  const notices: string[] = [];
  /** Set once the server could not be asked: the rest of the load takes the cache's copies. */
  let unreachable = false;

  const missing = (file: string) =>
    new ModelFileError(
      'missing',
      `${file} is missing: ${urlOf(file).href} answered 404 (not found)${options.notFoundHint ?? ''}`,
    );

  /**
   * `file` from the network: null on 404, the response otherwise (a 304 too, to a `revalidation`
   * request); any other trouble throws.
   */
  async function download(
    file: string,
    controller: AbortController,
    revalidation?: RequestInit,
  ): Promise<Response | null> {
    const url = urlOf(file);
    // Only the answer's headers are timed: a new version may take long to download.
    const late = new AbortController();
    const timer = revalidation ? setTimeout(() => late.abort(), REVALIDATION_MS) : undefined;
    let response: Response;
    try {
      response = await fetchFn(url, {
        ...revalidation,
        signal: AbortSignal.any([signal, controller.signal, late.signal]),
      });
    } catch (e) {
      if (signal.aborted) throw e;
      if (late.signal.aborted) {
        throw new FetchError(`${url.host} did not answer in ${REVALIDATION_MS / 1000} s`, true);
      }
      throw await fetchFailure(url, file, e as Error, fetchFn, signal);
    } finally {
      clearTimeout(timer);
    }
    if (response.status === 404) return null;
    if (response.status === 304 && revalidation) return response;
    const error = httpError(url, response);
    if (error) throw error;
    return response;
  }

  /**
   * `file` as the server has it now, against the stored copy: a copy with a validator is asked
   * for conditionally, a 404 marker plainly (the file may have been added since); a copy without
   * a validator is taken as it is. From another origin the request carries no conditional
   * header (one would need a CORS preflight, which static servers often refuse): the browser's
   * HTTP cache revalidates what it holds (`no-cache`), and an answer with the stored validator
   * is dropped unread. When the server cannot be asked (offline, an HTTP error), the copy is
   * taken, and a notice says so.
   */
  async function current(file: string, controller: AbortController): Promise<Current> {
    const stored = await cache?.match(urlOf(file).href);
    if (!stored) return { answer: await download(file, controller) };
    const marker = stored.status === 404;
    const conditions = marker ? {} : conditionsFor(stored);
    if (!conditions || unreachable) return { stored };
    const revalidation: RequestInit = isCrossOrigin(urlOf(file))
      ? { cache: 'no-cache' }
      : { headers: conditions };
    let answer: Response | null;
    try {
      answer = await download(file, controller, revalidation);
    } catch (e) {
      if (signal.aborted || !(e instanceof FetchError)) throw e;
      unreachable = true;
      notices.push(
        `${name} is loaded from the cache: the server could not be asked for a newer version (${e.message})`,
      );
      return { stored };
    }
    if (answer === null ? marker : isCurrent(stored, answer)) {
      void answer?.body?.cancel();
      return { stored };
    }
    return { answer };
  }

  const lengthOf = (response: Response) => Number(response.headers.get('Content-Length')) || 0;

  /**
   * A weight file's download into the cache, checked as it streams there: its header once
   * stored, null when the cache could not take it (a full disk); throws for anything wrong
   * with the download.
   */
  async function downloadToCache(
    file: string,
    response: Response,
    store: ModelCache,
    controller: AbortController,
    budget: number,
    onProgress: Progress,
  ): Promise<KnownHeader | null> {
    const announced = lengthOf(response);
    const checked = checkedDownload(file, announced, budget, onProgress);
    const body = response.body!.pipeThrough(checked.stream, { signal: controller.signal });
    const headers = {
      ...(announced ? { 'Content-Length': String(announced) } : {}),
      ...validatorsOf(response),
    };
    const failed = await store.put(urlOf(file).href, new Response(body, { headers }));
    if (!failed) return checked.header();
    if (checked.problem()) throw checked.problem();
    if (signal.aborted) throw new DOMException('superseded', 'AbortError');
    if (failed instanceof DOMException && failed.name === 'QuotaExceededError') return null;
    throw new FetchError(
      `the download of ${file} from ${urlOf(file).host} broke off: ${(failed as Error).message}`,
    );
  }

  return {
    name,
    async read(file, required = false) {
      let now: Current;
      try {
        now = await current(file, new AbortController());
      } catch (e) {
        // Offline, an optional file that was never stored (a shipped model's absent
        // training.json: the service worker keeps only what exists) is not a requirement.
        if (required || !(e instanceof FetchError && e.unreachable)) throw e;
        notices.push(`${name} is loaded without ${file}: ${e.message}`);
        return null;
      }
      let bytes: Uint8Array | null;
      if ('stored' in now) {
        bytes = now.stored.status === 404 ? null : new Uint8Array(await now.stored.arrayBuffer());
      } else {
        const { answer } = now;
        bytes = answer ? new Uint8Array(await answer.arrayBuffer()) : null;
        // An absent optional file is remembered too: offline, a second load need not ask.
        await cache?.put(
          urlOf(file).href,
          answer && bytes
            ? new Response(bytes as Uint8Array<ArrayBuffer>, {
                headers: { 'Content-Length': String(bytes.byteLength), ...validatorsOf(answer) },
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
        const readWeightFile = readerOf(file);
        // The cache's on-the-fly check reads safetensors headers only.
        const store = file.endsWith('.bin') ? null : cache;
        if (store) {
          const now = await current(file, controller);
          let stored = 'stored' in now && now.stored.status === 200 ? now.stored : null;
          let from: WeightsOrigin = 'cache';
          let known: KnownHeader | null = null;
          if (!stored) {
            const answer = 'answer' in now ? now.answer : null;
            if (!answer) throw missing(file);
            const progress: Progress = (l, t) => onProgress('download', l, t);
            known = await downloadToCache(file, answer, store, controller, budget, progress);
            stored = known ? ((await store.match(urlOf(file).href)) ?? null) : null;
            from = 'network';
          }
          if (stored?.body) {
            const read = await readWeightFile(
              file,
              stored.body,
              lengthOf(stored),
              budget,
              (l, t) => onProgress('cache', l, t),
              known,
            );
            return { ...read, from };
          }
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
    notices: () => notices,
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
    notices: () => [],
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
