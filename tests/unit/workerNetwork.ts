/**
 * The worker's engine against a fake network (Node, wasm backend): a server of folders that
 * logs every request (with its conditional headers) and counts the bytes read from each body,
 * Cache Storage in memory, and a harness that sends the engine requests and collects answers.
 */
import { expect } from 'vitest';
import { Engine } from '../../src/workers/engine';
import { MODEL_CACHE } from '../../src/workers/modelCache';
import type { ModelSource, Request, Response as Message } from '../../src/workers/protocol';

export const ORIGIN = 'http://files.test/';
export type Body = Uint8Array | string;

export interface Served {
  body: Body;
  /** Content-Length to send: the real one by default, `null` for none. */
  length?: number | null;
  status?: number;
  /** Bytes per chunk of the streamed body. */
  chunk?: number;
  /** After the body, keep the response open (a download that goes on) until aborted. */
  hang?: boolean;
  /** Validators to send; a request that names the current one is answered 304. */
  etag?: string;
  lastModified?: string;
}

/** A request as the server saw it. */
export interface Logged {
  url: string;
  ifNoneMatch: string | null;
  ifModifiedSince: string | null;
  status: number;
}

/**
 * A fake network: folders of files, every request logged (`requests`: the URLs; `log`: with
 * conditional headers and status), bytes pulled from bodies counted.
 */
export class FakeServer {
  requests: string[] = [];
  log: Logged[] = [];
  pulled = new Map<string, number>();
  /** No answer at all (offline): to every request, or to those for `unreachable` paths. */
  failing = false;
  unreachable = new Set<string>();
  /** Paths whose requests get no answer at all until aborted (a network that hangs). */
  stalled = new Set<string>();
  /** Send validators but answer every request in full, as a server without conditional GETs. */
  ignoresConditions = false;
  constructor(public files: Record<string, Body | Served>) {}

  readonly fetch = (async (input: URL | RequestInfo, init?: RequestInit) => {
    const url = String(input);
    const signal = init?.signal;
    const headers = new Headers(init?.headers);
    const logged: Logged = {
      url,
      ifNoneMatch: headers.get('If-None-Match'),
      ifModifiedSince: headers.get('If-Modified-Since'),
      status: 0,
    };
    this.requests.push(url);
    this.log.push(logged);
    const path = url.startsWith(ORIGIN) ? url.slice(ORIGIN.length) : url;
    if (this.failing || this.unreachable.has(path)) throw new TypeError('fetch failed');
    if (this.stalled.has(path)) {
      return new Promise<Response>((_, reject) => {
        const stop = () => reject(new DOMException('aborted', 'AbortError'));
        if (signal?.aborted) stop();
        else signal?.addEventListener('abort', stop);
      });
    }
    const entry = this.files[path];
    logged.status = 404;
    if (entry === undefined) return new Response('not found', { status: 404 });
    const served: Served =
      typeof entry === 'string' || entry instanceof Uint8Array ? { body: entry } : entry;
    const validators = {
      ...(served.etag ? { ETag: served.etag } : {}),
      ...(served.lastModified ? { 'Last-Modified': served.lastModified } : {}),
    };
    const unchanged = this.ignoresConditions
      ? false
      : served.etag
        ? logged.ifNoneMatch === served.etag
        : served.lastModified !== undefined && logged.ifModifiedSince === served.lastModified;
    logged.status = unchanged ? 304 : (served.status ?? 200);
    if (unchanged) return new Response(null, { status: 304, headers: validators });
    const bytes =
      typeof served.body === 'string' ? new TextEncoder().encode(served.body) : served.body;
    const chunk = served.chunk ?? 1000;
    let offset = 0;
    // highWaterMark 0: a chunk is produced only when read, so `pulled` is what was read.
    const stream = new ReadableStream<Uint8Array>(
      {
        pull: (controller) => {
          if (offset >= bytes.byteLength) {
            if (!served.hang) return controller.close();
            // As fetch does: an abort errors the body, whoever reads it.
            return new Promise<void>((resolve) => {
              const stop = () => {
                controller.error(new DOMException('aborted', 'AbortError'));
                resolve();
              };
              if (signal?.aborted) stop();
              else signal?.addEventListener('abort', stop);
            });
          }
          const part = bytes.slice(offset, offset + chunk);
          offset += part.byteLength;
          this.pulled.set(path, offset);
          controller.enqueue(part);
        },
      },
      { highWaterMark: 0 },
    );
    const length = served.length === undefined ? bytes.byteLength : served.length;
    return new Response(stream, {
      status: served.status ?? 200,
      headers: { ...validators, ...(length === null ? {} : { 'Content-Length': String(length) }) },
    });
  }) as typeof fetch;

  requested(file: string): number {
    return this.requests.filter((r) => r.endsWith(`/${file}`)).length;
  }
}

/** Cache Storage in memory, enough of it for the worker's model cache. */
export class MemoryCacheStorage {
  readonly caches = new Map<
    string,
    Map<string, { status: number; headers: Headers; body: ArrayBuffer }>
  >();

  async open(name: string): Promise<Cache> {
    if (!this.caches.has(name)) this.caches.set(name, new Map());
    const entries = this.caches.get(name)!;
    const cache = {
      async match(request: RequestInfo | URL) {
        const e = entries.get(String(request instanceof Request ? request.url : request));
        return e && new Response(e.status === 404 ? null : e.body, e);
      },
      async put(request: RequestInfo | URL, response: Response) {
        const body = await response.arrayBuffer();
        entries.set(String(request), { status: response.status, headers: response.headers, body });
      },
      async delete(request: RequestInfo | URL) {
        return entries.delete(String(request));
      },
      async keys() {
        return [...entries.keys()].map((url) => new Request(url));
      },
    };
    return cache as unknown as Cache;
  }

  async has(name: string) {
    return this.caches.has(name);
  }

  async delete(name: string) {
    return this.caches.delete(name);
  }

  entries(): string[] {
    return [...(this.caches.get(MODEL_CACHE)?.keys() ?? [])];
  }
}

export class Harness {
  sent: Message[] = [];
  readonly engine: Engine;
  private nextId = 1;

  constructor(
    readonly server: FakeServer,
    options: { cache?: MemoryCacheStorage; weightBudget?: number } = {},
  ) {
    this.engine = new Engine({
      pageUrl: ORIGIN,
      fetch: server.fetch,
      padToBuckets: false,
      cache: (options.cache as unknown as CacheStorage) ?? null,
      ...(options.weightBudget ? { weightBudget: options.weightBudget } : {}),
      post: (message) => this.sent.push(message),
    });
  }

  async load(source: ModelSource): Promise<Message & { id: number }> {
    const id = this.nextId++;
    await this.engine.handle({ type: 'load', id, source });
    return this.last(id);
  }

  async send(request: Request): Promise<void> {
    await this.engine.handle(request);
  }

  id(): number {
    return this.nextId++;
  }

  /** The `loaded` or `error` answer to request `id`. */
  last(id: number): Message & { id: number } {
    const end = this.sent.filter(
      (m) => 'id' in m && m.id === id && (m.type === 'loaded' || m.type === 'error'),
    );
    expect(end, `answers to load ${id}`).toHaveLength(1);
    return end[0] as Message & { id: number };
  }

  of<T extends Message['type']>(type: T, id?: number): Extract<Message, { type: T }>[] {
    return this.sent.filter(
      (m) => m.type === type && (id === undefined || ('id' in m && m.id === id)),
    ) as Extract<Message, { type: T }>[];
  }
}
