/**
 * What the service worker (public/sw.js) stores when it installs, decided at build time from
 * the files in `dist/` (vite.config.ts writes the list into `dist/sw.js`): the page, its scripts
 * and styles, the wasm binaries a current browser loads, KaTeX's woff2 fonts (every browser with
 * a service worker reads woff2, so the woff and ttf copies are never fetched) and the shipped
 * models. Nothing is discovered at run time, so a server that answers unknown paths with
 * index.html cannot send it crawling.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type { Plugin } from 'vite';

/**
 * tfjs-backend-wasm's binary without SIMD: only browsers without wasm SIMD (none that this app
 * supports otherwise) load it; the service worker still stores it if one ever fetches it.
 */
const WITHOUT_SIMD = /(?:^|\/)tfjs-backend-wasm-(?!simd-|threaded-)[^/]*\.wasm$/;
const WANTED = /(?:^index\.html|\.(?:js|mjs|css|wasm|woff2))$/;

/** Paths relative to `dist/` (forward slashes), in a stable order. */
export function precacheList(files: string[]): string[] {
  return files
    .filter((f) => f.startsWith('models/') || (WANTED.test(f) && !WITHOUT_SIMD.test(f)))
    .filter((f) => f !== 'sw.js' && !f.endsWith('.map'))
    .sort();
}

/** A version that changes whenever any listed file's bytes do: it names the cache. */
export function precacheVersion(files: { path: string; bytes: Uint8Array }[]): string {
  const hash = createHash('sha256');
  for (const { path, bytes } of files) hash.update(path).update('\0').update(bytes).update('\0');
  return hash.digest('hex').slice(0, 16);
}

/** The Vite plugin that writes the list into dist/sw.js's `const BUILD = null;` line. */
export function precache(): Plugin {
  let outDir = 'dist';
  return {
    name: 'attention-lab-precache',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    closeBundle() {
      const all = readdirSync(outDir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => relative(outDir, join(e.parentPath, e.name)).split(sep).join('/'));
      const files = precacheList(all);
      const version = precacheVersion(
        files.map((path) => ({ path, bytes: readFileSync(join(outDir, path)) })),
      );
      const sw = join(outDir, 'sw.js');
      const source = readFileSync(sw, 'utf8');
      const built = source.replace(
        /^const BUILD = null;.*$/m,
        () => `const BUILD = ${JSON.stringify({ version, files })};`,
      );
      if (built === source) throw new Error('public/sw.js has no `const BUILD = null;` line');
      writeFileSync(sw, built);
    },
  };
}
