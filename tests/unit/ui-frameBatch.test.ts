import { describe, expect, it } from 'vitest';
import type { TraceChunk } from '../../src/model/trace';
import type { EngineEvents } from '../../src/ui/store/engine';
import { batchChunksPerFrame } from '../../src/ui/store/frameBatch';

/** Events that log what reaches them, in order. */
function recordingEvents(log: string[]): EngineEvents {
  return {
    onBackend: () => log.push('backend'),
    onProgress: () => log.push('progress'),
    onLoaded: () => log.push('loaded'),
    onTokens: (id) => log.push(`tokens ${id}`),
    onChunk: (id, chunk) => log.push(`chunk ${id} ${chunk.type}`),
    onDone: (id) => log.push(`done ${id}`),
    onError: (id) => log.push(`error ${id}`),
    onNotice: () => log.push('notice'),
    onCache: () => log.push('cache'),
  };
}

const chunk = (type: 'embedding' | 'output') => ({ type }) as TraceChunk;

describe('chunks batched per frame', () => {
  it('holds chunks until the frame, then delivers them together and in order', () => {
    const log: string[] = [];
    const frames: (() => void)[] = [];
    const events = batchChunksPerFrame(recordingEvents(log), (f) => frames.push(f));
    events.onTokens(1, 'decoder', [], false);
    events.onChunk(1, chunk('embedding'));
    events.onChunk(1, chunk('output'));
    expect(log).toEqual(['tokens 1']);
    expect(frames).toHaveLength(1); // one frame asked for, however many chunks wait
    frames[0]();
    expect(log).toEqual(['tokens 1', 'chunk 1 embedding', 'chunk 1 output']);
  });

  it('delivers waiting chunks before any later event, so the store sees the worker order', () => {
    const log: string[] = [];
    const frames: (() => void)[] = [];
    const events = batchChunksPerFrame(recordingEvents(log), (f) => frames.push(f));
    events.onChunk(1, chunk('embedding'));
    events.onDone(1, [], { forwardMs: 0, readbackMs: 0, transferMs: 0, totalMs: 0 });
    events.onChunk(2, chunk('embedding'));
    events.onError(2, 'cancelled', 'superseded');
    expect(log).toEqual(['chunk 1 embedding', 'done 1', 'chunk 2 embedding', 'error 2']);
    for (const f of frames) f(); // the frames come later and find nothing left to deliver
    expect(log).toHaveLength(4);
  });
});
