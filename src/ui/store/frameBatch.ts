import type { ClientMessage, EngineListener } from '../../client/client';

/**
 * Hands trace chunks on to the store at most once per frame (`schedule` is
 * `requestAnimationFrame` in the app). On wasm a whole forward streams its chunks within a few
 * milliseconds, and a render of every panel per chunk is work no one sees; chunks that arrive
 * within one frame now cost one render. On a slow backend each chunk still gets its own frame.
 * Any other message first delivers the chunks that came before it, so the store sees the
 * worker's order.
 */
export function batchChunksPerFrame(
  listener: EngineListener,
  schedule: (flush: () => void) => void,
): EngineListener {
  let waiting: ClientMessage[] = [];
  const flush = () => {
    const delivered = waiting;
    waiting = [];
    for (const m of delivered) listener(m);
  };
  return (m) => {
    if (m.type === 'chunk') {
      if (waiting.length === 0) schedule(flush);
      waiting.push(m);
      return;
    }
    flush();
    listener(m);
  };
}
