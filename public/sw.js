/**
 * Offline after the first visit. Install stores the files a build lists (vite.config.ts writes
 * BUILD below at build time: the page, scripts, styles, wasm, woff2 fonts and shipped models; see
 * scripts/lib/precache.ts); nothing is discovered by reading files, so a server that answers
 * unknown paths with index.html cannot send it crawling. Then:
 *  - hashed build assets (`assets/name-HASH.ext`) never change: the cache answers first;
 *  - everything else it stores (the page, shipped models) goes to the network first with
 *    `cache: 'no-cache'`, so the browser's HTTP cache must revalidate with the server (ETag /
 *    Last-Modified) and a replaced model is never served stale; the cache answers offline;
 *  - a page load is stored as index.html, never under its own URL (which carries the user's
 *    text in its hash and the query);
 *  - other requests (models loaded by URL, the Hub) pass through: the engine's own model cache
 *    (src/workers/modelCache.ts) keeps those, so "clear cached models" clears every copy.
 */
const BUILD = null; // replaced at build time: { version, files }
const PREFIX = 'attention-lab-app-';
const CACHE = PREFIX + (BUILD ? BUILD.version : 'dev');
/** Owned by the worker (src/workers/modelCache.ts): never cleared by an app update. */
const MODEL_CACHE = 'attention-lab-models';
const scope = new URL(self.registration.scope);
const PAGE = new URL('index.html', scope).href;
const HASHED = /\/assets\/[^/]+-[\w-]{8}\.[a-z0-9]+$/;

/** Fetch past the HTTP cache's freshness (a conditional request still costs only a 304). */
async function fresh(url) {
  const response = await fetch(url, { cache: 'no-cache', credentials: 'same-origin' });
  // A server with a single-page fallback answers a missing file with the page itself.
  const page = (response.headers.get('Content-Type') ?? '').startsWith('text/html');
  return { response, storable: response.status === 200 && (url === PAGE || !page) };
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      for (const file of BUILD ? BUILD.files : []) {
        const url = new URL(file, scope).href;
        const { response, storable } = await fresh(url);
        if (storable) await cache.put(url, response);
        // The app must be complete; a server may ship other models than the build did.
        else if (!file.startsWith('models/')) throw new Error(`${file}: ${response.status}`);
      }
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      // Older builds' caches go; the worker's model cache (weights the user downloaded) stays.
      for (const key of await caches.keys()) {
        if (key !== CACHE && key !== MODEL_CACHE) await caches.delete(key);
      }
      await self.clients.claim();
    })(),
  );
});

/** Network first, storing what came back under `key`; the cache answers when offline. */
async function networkFirst(url, key, event) {
  try {
    const { response, storable } = await fresh(url);
    if (storable) {
      const copy = response.clone();
      event.waitUntil(caches.open(CACHE).then((cache) => cache.put(key, copy)));
    }
    return response;
  } catch (error) {
    const cached = await caches.match(key, { cacheName: CACHE });
    if (cached) return cached;
    throw error;
  }
}

async function cacheFirst(request, event) {
  const cached = await caches.match(request, { cacheName: CACHE, ignoreSearch: true });
  if (cached) return cached;
  const response = await fetch(request);
  const page = (response.headers.get('Content-Type') ?? '').startsWith('text/html');
  if (response.status === 200 && !page) {
    const copy = response.clone();
    event.waitUntil(caches.open(CACHE).then((cache) => cache.put(request, copy)));
  }
  return response;
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== scope.origin) return;
  if (!url.pathname.startsWith(scope.pathname)) return;
  if (request.mode === 'navigate') {
    if (url.pathname === scope.pathname || url.href.split(/[?#]/)[0] === PAGE)
      event.respondWith(networkFirst(url.href, PAGE, event));
  } else if (HASHED.test(url.pathname)) {
    event.respondWith(cacheFirst(request, event));
  } else if (url.pathname.startsWith(scope.pathname + 'models/') && !url.search) {
    event.respondWith(networkFirst(url.href, url.href, event));
  }
});
