/** What the user typed into the model box, as a model source (main thread). */
import type { ModelSource } from '../workers/protocol';

/**
 * An absolute URL (a folder or a file in it), or a Hugging Face model id such as `gpt2` or
 * `Helsinki-NLP/opus-mt-en-it` (optionally `@revision`); null for anything else.
 */
export function sourceFromText(text: string): ModelSource | null {
  const t = text.trim();
  // A repository's page on the Hub (`https://huggingface.co/gpt2`, `…/tree/REVISION`) means its id.
  const page =
    /^https?:\/\/huggingface\.co\/([\w.-]+(?:\/[\w.-]+)?)\/?(?:tree\/([^/]+)\/?)?$/i.exec(t);
  if (page && !page[1].includes('..')) return hubSource(page[1], page[2]);
  if (/^https?:\/\//i.test(t)) return { kind: 'url', url: t };
  const id = /^([\w.-]+(?:\/[\w.-]+)?)(?:@([\w./-]+))?$/.exec(t);
  if (!id || id[1].includes('..')) return null;
  return hubSource(id[1], id[2]);
}

function hubSource(id: string, revision: string | undefined): ModelSource {
  return { kind: 'hub', id, ...(revision ? { revision } : {}) };
}
