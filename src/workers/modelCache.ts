/**
 * Model files from the Hub or a URL, kept in the browser's Cache Storage so that a second visit
 * loads without downloading them again, and offline. Each file is stored with the validators
 * its server sent (ETag, Last-Modified; the Hub sends ETags), and a later load asks the server
 * whether it is still current (a conditional request: 304, or the same validator, keeps it; a
 * new version replaces it), so a file replaced on the server (a new revision of a Hub branch)
 * is picked up. A file whose server sent no validator is used as it is ("clear cached models"
 * then picks up a new version). The weights are streamed to disk as they download and then
 * read back (see modelFiles.ts), so the download never sits in memory twice; small files are
 * stored once read.
 */
import type { CacheUsage } from './protocol';

const VALIDATORS = ['ETag', 'Last-Modified'] as const;

/** The validators `response` carries, to be stored with its body. */
export function validatorsOf(response: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of VALIDATORS) {
    const value = response.headers.get(name);
    if (value) out[name] = value;
  }
  return out;
}

/**
 * The headers that ask whether `stored` is still current (If-None-Match, else
 * If-Modified-Since); null when it was stored without a validator.
 */
export function conditionsFor(stored: Response): Record<string, string> | null {
  const etag = stored.headers.get('ETag');
  if (etag) return { 'If-None-Match': etag };
  const modified = stored.headers.get('Last-Modified');
  return modified ? { 'If-Modified-Since': modified } : null;
}

/**
 * Whether the server's answer to a conditional request is the stored copy still: a 304, or a
 * full answer with the same validator (a server, or a service worker in between, that does not
 * answer conditional requests).
 */
export function isCurrent(stored: Response, answer: Response): boolean {
  if (answer.status === 304) return true;
  const etag = stored.headers.get('ETag');
  if (etag) return answer.headers.get('ETag') === etag;
  const modified = stored.headers.get('Last-Modified');
  return modified !== null && answer.headers.get('Last-Modified') === modified;
}

/** The Cache Storage cache the worker keeps model files in (the service worker has its own). */
export const MODEL_CACHE = 'attention-lab-models';

export class ModelCache {
  /** What this load stored, removed again by `discard`. */
  private stored = new Set<string>();

  constructor(private readonly storage: CacheStorage) {}

  /** The stored response for `url` (a 404 marker for a file known to be absent), if any. */
  async match(url: string): Promise<Response | undefined> {
    return (await this.storage.open(MODEL_CACHE)).match(url);
  }

  /**
   * Store `response` (its body streamed to disk); resolves once written, to null, or to the
   * error that stopped the write (the body failed, the disk is full).
   */
  async put(url: string, response: Response): Promise<unknown> {
    const cache = await this.storage.open(MODEL_CACHE);
    this.stored.add(url);
    try {
      await cache.put(url, response);
      return null;
    } catch (e) {
      await cache.delete(url);
      return e ?? new Error('the cache refused the file');
    }
  }

  /** Remove what this load stored: a load that failed must not be answered from the cache. */
  async discard(): Promise<void> {
    const cache = await this.storage.open(MODEL_CACHE);
    await Promise.all([...this.stored].map((url) => cache.delete(url)));
    this.stored.clear();
  }
}

/** Bytes and number of the files in the model cache (404 markers not counted). */
export async function modelCacheUsage(storage: CacheStorage): Promise<CacheUsage> {
  if (!(await storage.has(MODEL_CACHE))) return { bytes: 0, files: 0 };
  const cache = await storage.open(MODEL_CACHE);
  let bytes = 0;
  let files = 0;
  for (const request of await cache.keys()) {
    const response = await cache.match(request);
    if (!response || response.status !== 200) continue;
    files++;
    const length = Number(response.headers.get('Content-Length'));
    // Servers that stream without a length are rare for model files; measure those.
    bytes += length > 0 ? length : (await response.blob()).size;
  }
  return { bytes, files };
}

export async function clearModelCache(storage: CacheStorage): Promise<void> {
  await storage.delete(MODEL_CACHE);
}
