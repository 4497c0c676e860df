/**
 * A second origin for the checkpoint tests and `scripts/bench-checkpoints.ts`: serves checkpoint
 * folders as the Hugging Face Hub does (CORS allowed, Content-Length given, ETags where asked),
 * logs every request and its status so a test can tell what the Cache Storage answered, and
 * misbehaves on purpose where asked: folders served without CORS, and files that announce a
 * length they never send.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, normalize, resolve, sep } from 'node:path';
import { ROOT } from './harness';

export interface CheckpointServerOptions {
  /** URL prefix (`/gpt2-tiny-a/`) → folder on disk. */
  folders?: Record<string, string>;
  /** URL path → contents, for files made in the test. */
  files?: Record<string, Uint8Array | string>;
  /** URL prefixes answered without `Access-Control-Allow-Origin`. */
  withoutCors?: string[];
  /**
   * URL path → the Content-Length to announce; the server sends the file's first 64 kB and then
   * leaves the connection open, as a download of a huge file would.
   */
  announce?: Record<string, number>;
  /**
   * URL prefixes whose files carry an ETag (a hash of their bytes, readable cross-origin), and
   * a request with `If-None-Match: ETAG` is answered 304.
   */
  etags?: string[];
}

export interface CheckpointServer {
  /** `http://127.0.0.1:PORT/`, ending in a slash. */
  url: string;
  /** Every request so far: `GET /gpt2-tiny-a/config.json`. */
  requests: string[];
  /** The status of each answer, in the same order: `200 /gpt2-tiny-a/config.json`. */
  answers: string[];
  /** How many requests asked for `path` (any method). */
  count(path: string): number;
  /** Paths of `announce`d responses whose connection the client closed (it stopped reading). */
  cutOff: string[];
  close(): Promise<void>;
}

const HANGING_PREFIX_BYTES = 65_536;

export async function serveCheckpoints(
  options: CheckpointServerOptions,
): Promise<CheckpointServer> {
  const folders = options.folders ?? {};
  const prefixes = Object.keys(folders).sort((a, b) => b.length - a.length);
  const requests: string[] = [];
  const answers: string[] = [];
  const cutOff: string[] = [];
  const open = new Set<ServerResponse>();

  async function body(path: string): Promise<Uint8Array | null> {
    const made = options.files?.[path];
    if (made !== undefined) return typeof made === 'string' ? new TextEncoder().encode(made) : made;
    const prefix = prefixes.find((p) => path.startsWith(p));
    if (!prefix) return null;
    const dir = resolve(folders[prefix]);
    const file = normalize(join(dir, path.slice(prefix.length)));
    if (!file.startsWith(dir + sep)) return null;
    try {
      return (await stat(file)).isFile() ? new Uint8Array(await readFile(file)) : null;
    } catch {
      return null;
    }
  }

  const server: Server = createServer((request, response) => {
    void (async () => {
      const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
      requests.push(`${request.method} ${path}`);
      const cors = !(options.withoutCors ?? []).some((p) => path.startsWith(p));
      const headers: Record<string, string | number> = cors
        ? { 'Access-Control-Allow-Origin': '*' }
        : {};
      const bytes = await body(path);
      if (!bytes) {
        answers.push(`404 ${path}`);
        response.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
        response.end('Entry not found');
        return;
      }
      if ((options.etags ?? []).some((p) => path.startsWith(p))) {
        headers.ETag = `"${createHash('sha1').update(bytes).digest('hex')}"`;
        if (cors) headers['Access-Control-Expose-Headers'] = 'ETag';
        if (request.headers['if-none-match'] === headers.ETag) {
          answers.push(`304 ${path}`);
          response.writeHead(304, headers);
          response.end();
          return;
        }
      }
      answers.push(`200 ${path}`);
      const announced = options.announce?.[path];
      response.writeHead(200, {
        ...headers,
        'Content-Type': 'application/octet-stream',
        'Content-Length': announced ?? bytes.byteLength,
      });
      if (request.method === 'HEAD') {
        response.end();
      } else if (announced !== undefined) {
        open.add(response);
        response.on('close', () => {
          if (open.delete(response)) cutOff.push(path);
        });
        response.write(bytes.subarray(0, HANGING_PREFIX_BYTES));
      } else {
        response.end(bytes);
      }
    })();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    answers,
    cutOff,
    count: (path) => requests.filter((r) => r.endsWith(` ${path}`)).length,
    close: () =>
      new Promise<void>((ok) => {
        for (const response of open) {
          open.delete(response);
          response.destroy();
        }
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** Where generated checkpoints go (git-ignored). */
export const CHECKPOINTS = join(ROOT, 'tmp', 'e2e-checkpoints');

/**
 * GPT-2's layout and vocabulary (50,257 tokens, 1,024 positions) at a width of 128 and 2 layers:
 * the 50k code paths (r50k tokenizer, embedding lookup in 13 chunks, 50k logits) in seconds.
 * GPT-2 small's own shape is the bench's (scripts/bench-checkpoints.ts): making it with
 * make-random-gpt2.ts takes minutes on two cores, and it is 250 MB to load on SwiftShader.
 */
export const GPT2_50K_CONFIG = {
  model_type: 'gpt2',
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 128,
  n_layer: 2,
  n_head: 4,
  activation_function: 'gelu_new',
  layer_norm_epsilon: 1e-5,
  bos_token_id: 50256,
  eos_token_id: 50256,
};

/** The folder of `GPT2_50K_CONFIG`'s random checkpoint (F16, seeded), written on first use. */
export async function ensureGpt2Vocab50k(): Promise<string> {
  const dir = join(CHECKPOINTS, 'gpt2-50k');
  if (existsSync(join(dir, 'model.safetensors'))) return dir;
  const { useFastestNodeBackend } = await import('./node-model');
  const { randomCheckpoint } = await import('../make-random-gpt2');
  await useFastestNodeBackend();
  const { config, safetensors } = randomCheckpoint(GPT2_50K_CONFIG, 'F16', 11);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  // Written last: its presence means the folder is complete.
  writeFileSync(join(dir, 'model.safetensors'), safetensors);
  return dir;
}
