import { describe, expect, it } from 'vitest';
import type { ClientMessage } from '../../src/client/client';
import type { TraceChunk } from '../../src/model/trace';
import { batchChunksPerFrame } from '../../src/ui/store/frameBatch';

const chunk = (id: number, type: 'embedding' | 'output'): ClientMessage => ({
  type: 'chunk',
  id,
  chunk: { type } as TraceChunk,
  queryStart: 0,
  sentAt: 0,
});
const timings = { forwardMs: 0, readbackMs: 0, transferMs: 0, totalMs: 0 };

/** What reaches the listener, in order. */
function describeAll(log: string[]) {
  return (m: ClientMessage) =>
    log.push(
      m.type === 'chunk' ? `chunk ${m.id} ${m.chunk.type}` : `${m.type} ${'id' in m ? m.id : ''}`,
    );
}

describe('chunks batched per frame', () => {
  it('holds chunks until the frame, then delivers them together and in order', () => {
    const log: string[] = [];
    const frames: (() => void)[] = [];
    const listener = batchChunksPerFrame(describeAll(log), (f) => frames.push(f));
    listener({ type: 'tokens', id: 1, stack: 'decoder', tokens: [], truncated: false });
    listener(chunk(1, 'embedding'));
    listener(chunk(1, 'output'));
    expect(log).toEqual(['tokens 1']);
    expect(frames).toHaveLength(1); // one frame asked for, however many chunks wait
    frames[0]();
    expect(log).toEqual(['tokens 1', 'chunk 1 embedding', 'chunk 1 output']);
  });

  it('delivers waiting chunks before any later message, so the store sees the worker order', () => {
    const log: string[] = [];
    const frames: (() => void)[] = [];
    const listener = batchChunksPerFrame(describeAll(log), (f) => frames.push(f));
    listener(chunk(1, 'embedding'));
    listener({ type: 'done', id: 1, predictions: [], timings });
    listener(chunk(2, 'embedding'));
    listener({ type: 'error', id: 2, code: 'forward-failed', message: 'superseded' });
    expect(log).toEqual(['chunk 1 embedding', 'done 1', 'chunk 2 embedding', 'error 2']);
    for (const f of frames) f(); // the frames come later and find nothing left to deliver
    expect(log).toHaveLength(4);
  });
});
