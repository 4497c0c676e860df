/**
 * Offline after the first visit. Install walks the built app (index.html, the files it names, the
 * chunks, workers, wasm and fonts those name in turn) plus the default model, and caches them.
 * Every request then goes to the network first, so a new build or model is never hidden behind
 * the cache; the cache answers only when the network cannot.
 */
const CACHE = 'attention-lab-v1';
/** Owned by the worker (src/workers/modelCache.ts): never cleared by an app update. */
const MODEL_CACHE = 'attention-lab-models';
const ASSET = /(?:\.\.?\/|\/)?(?:assets\/)?[\w.-]+\.(?:js|mjs|css|wasm|woff2?|ttf)(?=["'`)?#\s])/g;
const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'training.json'];

async function cacheIfOk(cache, url) {
  try {
    const response = await fetch(url, { cache: 'no-store' });
    if (response.ok) await cache.put(url, response.clone());
    return response.ok ? response : null;
  } catch {
    return null;
  }
}

/** Cache the app's own files, following the references each text file makes. */
async function crawlApp(cache, scope) {
  const seen = new Set();
  const queue = [new URL('./', scope).href, new URL('./index.html', scope).href];
  while (queue.length) {
    const url = queue.shift();
    if (seen.has(url)) continue;
    seen.add(url);
    const response = await cacheIfOk(cache, url);
    if (!response || !/\.(?:html|js|mjs|css)$|\/$/.test(new URL(url).pathname)) continue;
    const text = await response.text();
    for (const match of text.matchAll(ASSET)) {
      const next = new URL(match[0], url);
      if (
        next.origin === self.location.origin &&
        next.pathname.startsWith(new URL(scope).pathname)
      ) {
        queue.push(next.href);
      }
    }
  }
}

async function cacheDefaultModel(cache, scope) {
  const response = await cacheIfOk(cache, new URL('models/index.json', scope).href);
  if (!response) return;
  const index = await response.json();
  if (typeof index.default !== 'string') return;
  const folder = new URL(`models/${encodeURIComponent(index.default)}/`, scope);
  await Promise.all(MODEL_FILES.map((f) => cacheIfOk(cache, new URL(f, folder).href)));
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      const scope = self.registration.scope;
      await Promise.all([crawlApp(cache, scope), cacheDefaultModel(cache, scope)]);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      // Old app caches go; the worker's model cache (weights the user downloaded) stays.
      for (const key of await caches.keys()) {
        if (key !== CACHE && key !== MODEL_CACHE) await caches.delete(key);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith(
    (async () => {
      try {
        const response = await fetch(request);
        if (response.ok && response.status === 200) {
          const copy = response.clone();
          event.waitUntil(caches.open(CACHE).then((cache) => cache.put(request, copy)));
        }
        return response;
      } catch (error) {
        const cached = await caches.match(request, { ignoreSearch: true });
        if (cached) return cached;
        throw error;
      }
    })(),
  );
});
