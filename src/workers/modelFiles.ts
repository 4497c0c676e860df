/**
 * Where a model's files come from: the app's own `models/NAME/` folder, any URL folder, or files
 * the user picked. Each source reads `config.json`, `model.safetensors` and the optional
 * `tokenizer.json` / `training.json` the same way, with byte progress for the big one.
 */
import type { ModelSource } from './protocol';

export type Progress = (loaded: number, total: number) => void;

export class FetchError extends Error {
  override name = 'FetchError';
}

export interface ModelFiles {
  /** A name to show: the shipped name, the URL's last folder, or the picked weights' file name. */
  name: string;
  /** The file's bytes, or null when an optional file is absent (404 / not picked). */
  read(file: string, onProgress?: Progress): Promise<Uint8Array | null>;
}

/** Read a byte stream to the end, reporting bytes as they arrive (`total` 0 when unknown). */
async function readStream(
  stream: ReadableStream<Uint8Array>,
  total: number,
  onProgress?: Progress,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let loaded = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.byteLength;
    onProgress?.(loaded, Math.max(total, loaded));
  }
  if (parts.length === 1) return parts[0];
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.byteLength;
  }
  return bytes;
}

function fetchedFiles(
  name: string,
  base: URL,
  fetchFn: typeof fetch,
  signal: AbortSignal,
): ModelFiles {
  return {
    name,
    async read(file, onProgress) {
      const url = new URL(file, base);
      let response: Response;
      try {
        response = await fetchFn(url, { signal });
      } catch (e) {
        if (signal.aborted) throw e;
        throw new FetchError(`could not fetch ${url.href}: ${(e as Error).message}`);
      }
      if (response.status === 404) return null;
      if (!response.ok || !response.body) {
        throw new FetchError(`fetching ${url.href} failed: HTTP ${response.status}`);
      }
      const total = Number(response.headers.get('Content-Length') ?? 0) || 0;
      return readStream(response.body, total, onProgress);
    },
  };
}

function pickedFiles(files: File[]): ModelFiles {
  const weights = files.find((f) => f.name.endsWith('.safetensors'));
  return {
    name: weights ? weights.name.replace(/\.safetensors$/, '') : 'picked files',
    async read(file, onProgress) {
      const picked = file === 'model.safetensors' ? weights : files.find((f) => f.name === file);
      return picked ? readStream(picked.stream(), picked.size, onProgress) : null;
    },
  };
}

/**
 * The files of a model source. Shipped models live under `models/NAME/` relative to `pageUrl`;
 * a URL names a folder, or a file inside it whose folder is used.
 */
export function modelFiles(
  source: ModelSource,
  pageUrl: string,
  fetchFn: typeof fetch,
  signal: AbortSignal,
): ModelFiles {
  switch (source.kind) {
    case 'shipped':
      return fetchedFiles(
        source.name,
        new URL(`models/${encodeURIComponent(source.name)}/`, pageUrl),
        fetchFn,
        signal,
      );
    case 'url': {
      const url = new URL(source.url, pageUrl);
      // `…/gpt2/model.safetensors` means its folder; `…/gpt2` (no dot in the last part) is one.
      if (/\.[^/]*$/.test(url.pathname)) url.pathname = url.pathname.replace(/[^/]*$/, '');
      else if (!url.pathname.endsWith('/')) url.pathname += '/';
      const name = url.pathname.split('/').filter(Boolean).pop() ?? url.host;
      return fetchedFiles(decodeURIComponent(name), url, fetchFn, signal);
    }
    case 'files':
      return pickedFiles(source.files);
  }
}
