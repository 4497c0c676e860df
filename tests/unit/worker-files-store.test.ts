/**
 * The store's loading state for checkpoints from the Hub, a URL or files: what the model box
 * asks the engine for, the per-stage progress it keeps (for bytes and MB/s), and the model
 * cache control. Against a fake engine, as the UI's other store tests.
 */
import { describe, expect, it, vi } from 'vitest';
import type { EngineListener } from '../../src/client/client';
import type { Engine } from '../../src/ui/store/engine';
import { createLabStore } from '../../src/ui/store/store';
import type { ModelSource } from '../../src/workers/protocol';

function setUp() {
  const loads: ModelSource[] = [];
  const cacheRequests: boolean[] = [];
  let listener!: EngineListener;
  const engine: Engine = {
    load: (source) => loads.push(source),
    cancelLoad: () => {},
    restart: () => {},
    run: () => 0,
    generate: () => 0,
    askTokenizer: () => 0,
    analyse: () => 0,
    detail: () => {},
    cancel: () => {},
    dispose: () => {},
    modelCache: (clear) => void cacheRequests.push(clear),
    measureRnnVsAttention: () => 0,
  };
  const store = createLabStore({
    createEngine: (l) => {
      listener = l;
      return engine;
    },
    fetchIndex: async () => ({ default: 'x', models: [] }),
    fetchJson: async () => ({}),
  });
  return { store, loads, cacheRequests, listener };
}

describe('store: loading checkpoints', () => {
  it('loads what is typed as a Hub id or a URL, and says when it is neither', () => {
    const { store, loads } = setUp();
    store.getState().loadFrom(' Helsinki-NLP/opus-mt-en-it ');
    store.getState().loadFrom('https://example.org/models/gpt2/');
    expect(loads).toEqual([
      { kind: 'hub', id: 'Helsinki-NLP/opus-mt-en-it' },
      { kind: 'url', url: 'https://example.org/models/gpt2/' },
    ]);
    expect(store.getState()).toMatchObject({ modelName: '', loadId: 2 });
    store.getState().loadFrom('no such thing!');
    expect(loads).toHaveLength(2);
    expect(store.getState().notices.at(-1)).toMatchObject({
      level: 'error',
      text: expect.stringMatching(/^"no such thing!" is neither a Hugging Face model id/),
    });
  });

  it('keeps when each stage started, for the transfer rate', () => {
    const now = vi.spyOn(performance, 'now');
    const { store, listener } = setUp();
    store.getState().loadFrom('gpt2');
    const id = store.getState().loadId!;
    now.mockReturnValue(1000);
    listener({ type: 'progress', id, stage: 'download', loaded: 1e6, total: 5e8 });
    now.mockReturnValue(3000);
    listener({ type: 'progress', id, stage: 'download', loaded: 5e7, total: 5e8 });
    listener({ type: 'progress', id: id + 1, stage: 'download', loaded: 9, total: 9 });
    expect(store.getState().progress).toEqual({
      download: { loaded: 5e7, total: 5e8, startedAt: 1000, at: 3000 },
    });
    now.mockRestore();
  });

  it('asks what the model cache holds at start, shows it, and clears it on request', () => {
    const { store, cacheRequests, listener } = setUp();
    expect(cacheRequests).toEqual([false]);
    expect(store.getState().cacheUsage).toBeNull();
    listener({ type: 'cache', usage: { bytes: 548_105_171, files: 3 } });
    expect(store.getState().cacheUsage).toEqual({ bytes: 548_105_171, files: 3 });
    store.getState().clearModelCache();
    expect(cacheRequests).toEqual([false, true]);
  });
});
