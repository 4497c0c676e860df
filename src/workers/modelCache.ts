/**
 * Model files from the Hub or a URL, kept in the browser's Cache Storage so that a second visit
 * loads without the network. Cache first: a stored file is never re-fetched (the URL of a Hub
 * file names a branch, so "clear cached models" is how to pick up a new revision). A network
 * response is stored while it streams (the body is teed: one branch is read by the load, the
 * other written to disk), so the weights are never held twice in memory for the cache's sake.
 */
import type { CacheUsage } from './protocol';

/** The Cache Storage cache the worker keeps model files in (the service worker has its own). */
export const MODEL_CACHE = 'attention-lab-models';

export interface CachedResponse {
  response: Response;
  fromCache: boolean;
}

export class ModelCache {
  /** Stores started by this load: awaited by `settle`, removed by `discard`. */
  private writes = new Map<string, Promise<void>>();

  constructor(private readonly storage: CacheStorage) {}

  /**
   * The stored response for `url`, else the network's (a 200 is stored as it streams; a 404 is
   * stored as a marker, so that an optional file that does not exist is not asked for again).
   */
  async fetch(url: string, network: () => Promise<Response>): Promise<CachedResponse> {
    const cache = await this.storage.open(MODEL_CACHE);
    const hit = await cache.match(url);
    if (hit) return { response: hit, fromCache: true };
    const response = await network();
    if (response.status === 404) {
      this.store(cache, url, new Response(null, { status: 404 }));
      return { response, fromCache: false };
    }
    if (response.status !== 200 || !response.body) return { response, fromCache: false };
    // Only what a later load needs: the bytes and their length (no Vary, no cookies).
    const headers = new Headers();
    const length = response.headers.get('Content-Length');
    if (length) headers.set('Content-Length', length);
    const [mine, stored] = response.body.tee();
    this.store(cache, url, new Response(stored, { status: 200, headers }));
    return { response: new Response(mine, { status: 200, headers }), fromCache: false };
  }

  private store(cache: Cache, url: string, response: Response): void {
    // A failed write (a cancelled download, a full disk) must not fail the load that caused it.
    this.writes.set(
      url,
      cache.put(url, response).catch(() => cache.delete(url).then(() => undefined)),
    );
  }

  /** Wait for this load's writes to finish. */
  async settle(): Promise<void> {
    await Promise.all(this.writes.values());
    this.writes.clear();
  }

  /** Remove what this load stored: a load that failed must not be answered from the cache. */
  async discard(): Promise<void> {
    const urls = [...this.writes.keys()];
    await this.settle();
    const cache = await this.storage.open(MODEL_CACHE);
    await Promise.all(urls.map((url) => cache.delete(url)));
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
