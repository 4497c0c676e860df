/**
 * What the page reads before it has an engine: the backend asked for in its URL, the shipped
 * models' index next to it, and where a model source points (for messages).
 */
import type { BackendName, ModelIndex, ModelSource } from '../workers/protocol';

/** The backend named by `?backend=` in a page URL, if it is one. */
export function backendFromUrl(url: string): BackendName | undefined {
  const value = new URL(url).searchParams.get('backend');
  return value === 'webgl' || value === 'wasm' || value === 'cpu' || value === 'webgpu'
    ? value
    : undefined;
}

/**
 * The wasm thread count asked for by `?threads=` (1–16), if any: it counts only where the page is
 * cross-origin isolated (docs/performance.md, wasm threads).
 */
export function threadsFromUrl(url: string): number | undefined {
  const value = Number(new URL(url).searchParams.get('threads') ?? NaN);
  return Number.isInteger(value) && value >= 1 && value <= 16 ? value : undefined;
}

/** Read and check `models/index.json` next to the page. */
export async function fetchModelIndex(pageUrl: string = location.href): Promise<ModelIndex> {
  const url = new URL('models/index.json', pageUrl);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.href}: HTTP ${response.status}`);
  const index = (await response.json()) as ModelIndex;
  if (
    typeof index.default !== 'string' ||
    !Array.isArray(index.models) ||
    !index.models.some((m) => m.name === index.default)
  ) {
    throw new Error('models/index.json must list its default model among "models"');
  }
  return index;
}

/** Where a load reads from, for messages. */
export function describeSource(source: ModelSource, pageUrl: string): string {
  switch (source.kind) {
    case 'shipped':
      return new URL(`models/${encodeURIComponent(source.name)}/`, pageUrl).href;
    case 'hub':
      return `https://huggingface.co/${source.id}`;
    case 'url':
      return source.url;
    case 'files':
      return source.files.map((f) => f.name).join(', ');
  }
}
