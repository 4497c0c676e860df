import type { TraceChunk } from '../../model/trace';
import type { EngineEvents } from './engine';

/**
 * Hands trace chunks on to the store at most once per frame (`schedule` is
 * `requestAnimationFrame` in the app). On wasm a whole forward streams its chunks within a few
 * milliseconds, and a render of every panel per chunk is work no one sees; chunks that arrive
 * within one frame now cost one render. On a slow backend each chunk still gets its own frame.
 * Any other event first delivers the chunks that came before it, so the store sees the
 * worker's order.
 */
export function batchChunksPerFrame(
  events: EngineEvents,
  schedule: (flush: () => void) => void,
): EngineEvents {
  let waiting: { id: number; chunk: TraceChunk }[] = [];
  const flush = () => {
    const delivered = waiting;
    waiting = [];
    for (const { id, chunk } of delivered) events.onChunk(id, chunk);
  };
  const inOrder =
    <A extends unknown[]>(handler: (...args: A) => void) =>
    (...args: A) => {
      flush();
      handler(...args);
    };
  return {
    onBackend: inOrder((info) => events.onBackend(info)),
    onProgress: inOrder((p) => events.onProgress(p)),
    onLoaded: inOrder((info) => events.onLoaded(info)),
    onTokens: inOrder((id, stack, tokens, truncated) =>
      events.onTokens(id, stack, tokens, truncated),
    ),
    onChunk(id, chunk) {
      if (waiting.length === 0) schedule(flush);
      waiting.push({ id, chunk });
    },
    onDone: inOrder((id, predictions, timings) => events.onDone(id, predictions, timings)),
    onError: inOrder((id, code, message) => events.onError(id, code, message)),
    onNotice: inOrder((message) => events.onNotice(message)),
    onCache: inOrder((usage) => events.onCache(usage)),
  };
}
