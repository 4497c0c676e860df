/**
 * Model files from the Hub or a URL, kept in the browser's Cache Storage so that a second visit
 * loads without the network. Cache first: a stored file is never fetched again (a Hub file's URL
 * names a branch, so "clear cached models" is how to pick up a new revision). The weights are
 * streamed to disk as they download and then read back (see modelFiles.ts), so the download
 * never sits in memory twice; small files are stored once read.
 */
import type { CacheUsage } from './protocol';

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
