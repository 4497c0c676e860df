/**
 * End-to-end harness: serves the built app (dist/) from a tiny static server on 127.0.0.1 and
 * drives it in the system's headless Chromium through playwright-core. The bench uses it too.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { chromiumPath } from './chromium';
import type { DebugEvent } from '../../src/client/debug';
import type { Trace } from '../../src/model/trace';
import { LAB_TOKENIZER_FILE } from '../../src/model/tokenizer/forCheckpoint';
import type { ModelIndex } from '../../src/workers/protocol';

export const ROOT = resolve(import.meta.dirname, '../..');
export const DIST = join(ROOT, 'dist');
export const ARTIFACTS = join(ROOT, 'test-artifacts');

/**
 * Chromium flags. The first group is the project's rule for any automated Chromium. The second
 * makes WebGL2 inside a worker deterministic without a GPU: ANGLE on SwiftShader, allowed even
 * though Chromium ≥ 137 no longer falls back to it silently, and not refused by the GPU blocklist.
 * (This Chromium already gives a SwiftShader context with none of them; see docs/worker.md.)
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--ignore-gpu-blocklist',
];

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.safetensors': 'application/octet-stream',
};

export interface StaticServer {
  /** `http://127.0.0.1:PORT/`, ending in a slash. */
  url: string;
  /** Every request so far, as `GET /models/x/config.json`. */
  requests: string[];
  close(): Promise<void>;
}

export interface ServeOptions {
  /**
   * Answer unknown paths with the `/` mount's index.html (200), as `vite preview` and static
   * hosts with a single-page fallback do.
   */
  fallback?: boolean;
  /**
   * The Cache-Control header (default `no-store`); with one that allows caching, files carry
   * an ETag from their bytes and a matching If-None-Match is answered 304.
   */
  cacheControl?: string;
  /** More response headers on every file, e.g. CROSS_ORIGIN_ISOLATION. */
  headers?: Record<string, string>;
}

/**
 * Serve folders: `mounts` maps a URL prefix (`/`, `/fixtures/`) to a directory. The longest
 * matching prefix wins; paths cannot climb out of their directory.
 */
export async function serveStatic(
  mounts: Record<string, string>,
  options: ServeOptions = {},
): Promise<StaticServer> {
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const requests: string[] = [];
  const cacheControl = options.cacheControl ?? 'no-store';
  async function find(path: string): Promise<string | null> {
    const prefix = prefixes.find((p) => path.startsWith(p));
    if (!prefix) return null;
    const dir = resolve(mounts[prefix]);
    const file = normalize(join(dir, path.slice(prefix.length)));
    if (file !== dir && !file.startsWith(dir + sep)) return null;
    try {
      const found = await stat(file);
      return found.isDirectory() ? join(file, 'index.html') : found.isFile() ? file : null;
    } catch {
      return null;
    }
  }
  const server: Server = createServer((request, response) => {
    void (async () => {
      const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
      requests.push(`${request.method} ${path}`);
      let file = await find(path);
      if (!file && options.fallback && mounts['/']) file = join(resolve(mounts['/']), 'index.html');
      let body: Buffer;
      try {
        body = await readFile(file ?? '');
      } catch {
        response.writeHead(404, { 'Content-Type': 'text/plain' });
        response.end('not found');
        return;
      }
      const headers: Record<string, string | number> = {
        'Content-Type': MIME[extname(file!)] ?? 'application/octet-stream',
        'Cache-Control': cacheControl,
        ...options.headers,
      };
      if (cacheControl !== 'no-store') {
        headers.ETag = `"${createHash('sha1').update(body).digest('hex')}"`;
        if (request.headers['if-none-match'] === headers.ETag) {
          response.writeHead(304, headers);
          response.end();
          return;
        }
      }
      response.writeHead(200, { ...headers, 'Content-Length': body.byteLength });
      response.end(request.method === 'HEAD' ? undefined : body);
    })();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors, for assertions and failure messages. */
  errors: string[];
  close(): Promise<void>;
}

/** Headless Chromium with a fresh profile directory, removed again on close; `extraArgs` add flags. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'attention-lab-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    viewport: { width: 1400, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return {
    context,
    page,
    errors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Save a screenshot to test-artifacts/NAME.png (git-ignored) for looking at failures. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The query that makes the app use WebGL even though this Chromium's is a software renderer. */
export const WEBGL_QUERY = '?backend=webgl';

/** WebGPU without a GPU: Dawn on SwiftShader's Vulkan (Chromium 156 needs both flags). */
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];

/** The trace of the store's current run, which must be run `runId` (its arrays cross as JSON). */
export async function storeRunTrace(page: Page, runId: number): Promise<Trace> {
  const json = await page.evaluate((id) => {
    const current = window.__attentionLab!.store!.getState().run;
    if (current?.id !== id) throw new Error(`run ${id} is not the store's current run`);
    return JSON.stringify(current.trace, (_, v: unknown) =>
      v instanceof Float32Array ? Array.from(v) : v,
    );
  }, runId);
  return JSON.parse(json, (key, v: unknown) =>
    key === 'data' && Array.isArray(v) ? Float32Array.from(v as number[]) : v,
  ) as Trace;
}

/** The headers `npm start` and `npm run preview` send (vite.config.ts): wasm threads. */
export const CROSS_ORIGIN_ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/** Where `ensureTestModels` writes; served as the app's `models/` so tests never depend on what ships. */
export const TEST_MODELS = join(ROOT, 'tmp', 'e2e-models');
export const TEST_MODEL = 'lab-random';
/** Its shape: enough layers and width that a run on SwiftShader is still in flight when a test acts. */
export const TEST_MODEL_CONFIG = {
  model_type: 'attention-lab',
  architecture: 'decoder-only',
  vocab_size: 98,
  n_positions: 128,
  n_embd: 128,
  n_head: 4,
  n_layer: 6,
  eos_token_id: 2,
};

/** A random decoder with a character tokenizer, and an index.json naming it the default. */
export async function ensureTestModels(): Promise<void> {
  const dir = join(TEST_MODELS, TEST_MODEL);
  // Written last: a folder that has it is complete (and has the tokenizer under its current name).
  if (existsSync(join(dir, 'model.safetensors')) && existsSync(join(dir, LAB_TOKENIZER_FILE)))
    return;
  const { useFastestNodeBackend } = await import('./node-model');
  const { randomCheckpoint } = await import('../make-random-gpt2');
  await useFastestNodeBackend();
  const { safetensors } = randomCheckpoint(TEST_MODEL_CONFIG, 'F32', 7);
  // Printable ASCII: whatever default text the app starts with encodes.
  const alphabet = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(TEST_MODEL_CONFIG));
  writeFileSync(
    join(dir, LAB_TOKENIZER_FILE),
    JSON.stringify({
      type: 'chars',
      alphabet,
      special_tokens: { '<pad>': 0, '<s>': 1, '</s>': 2 },
    }),
  );
  writeFileSync(join(dir, 'model.safetensors'), safetensors);
  const index: ModelIndex = {
    default: TEST_MODEL,
    models: [{ name: TEST_MODEL, title: 'Random test model', description: 'e2e fixture' }],
  };
  writeFileSync(join(TEST_MODELS, 'index.json'), JSON.stringify(index));
}

export interface App extends Browser {
  server: StaticServer;
  /** The client's event log (`window.__attentionLab.events`). */
  events(): Promise<DebugEvent[]>;
  /**
   * Wait until the log has an event matching `event` (and `id`, when given); an `error` event
   * for that id ends the wait with its message instead.
   */
  waitForEvent(event: string, id?: number, timeout?: number): Promise<DebugEvent>;
}

/**
 * The built app in Chromium, with the test models as its `models/` (unless `mounts` says
 * otherwise), `query` appended to its URL and extra Chromium flags. The query defaults to
 * `?backend=webgl`: the app itself prefers wasm over SwiftShader, but the tests are there to
 * run the WebGL backend for real.
 */
export async function openApp(
  options: {
    query?: string;
    mounts?: Record<string, string>;
    chromiumArgs?: string[];
    /** Response headers, e.g. CROSS_ORIGIN_ISOLATION. */
    headers?: Record<string, string>;
  } = {},
): Promise<App> {
  await ensureTestModels();
  const mounts = { '/': DIST, '/models/': TEST_MODELS, ...options.mounts };
  const server = await serveStatic(mounts, { headers: options.headers });
  const browser = await launchChromium(options.chromiumArgs);
  const { page } = browser;
  await page.goto(server.url + (options.query ?? WEBGL_QUERY));
  await page.waitForFunction(() => Boolean(window.__attentionLab?.client));
  const events = () => page.evaluate(() => window.__attentionLab!.events);
  return {
    ...browser,
    server,
    events,
    async waitForEvent(event, id, timeout = 120_000) {
      const handle = await page.waitForFunction(
        ([e, i]) =>
          window.__attentionLab!.events.find(
            (x) =>
              (x.event === e || (x.event === 'error' && i !== null)) && (i === null || x.id === i),
          ),
        [event, id ?? null] as const,
        { timeout },
      );
      const found = (await handle.jsonValue()) as DebugEvent;
      if (found.event !== event)
        throw new Error(`request ${id} failed: ${JSON.stringify(found.detail)}`);
      return found;
    },
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
