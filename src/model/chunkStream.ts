import type { Recorder } from './recorder';
import type { TraceChunk } from './trace';

/**
 * Emits chunks in order while keeping the device busy. A chunk's downloads are queued as soon as
 * its kernels are, but its values are awaited only after the next chunk's kernels have been
 * dispatched: the device computes layer i + 1 while the host waits for, posts and paints layer
 * i, instead of the two taking turns.
 */
export class ChunkStream {
  private pending?: { reading: Promise<void>; chunk: () => TraceChunk };

  constructor(
    private emit: (chunk: TraceChunk) => Promise<void>,
    /** Told, per chunk, how long the host waited for its values once it started waiting. */
    private onReadback?: (ms: number) => void,
  ) {}

  /** Queue `rec`'s downloads; resolves once the chunk before this one has been emitted. */
  async push(rec: Recorder, chunk: () => TraceChunk): Promise<void> {
    const reading = rec.flush();
    // Awaited by `deliver` or `abandon`; until then a failed download must not count as unhandled.
    reading.catch(() => undefined);
    const previous = this.pending;
    this.pending = { reading, chunk };
    if (previous) await this.deliver(previous);
  }

  /** Emit the chunk still in flight. */
  async finish(): Promise<void> {
    const last = this.pending;
    this.pending = undefined;
    if (last) await this.deliver(last);
  }

  /** After an error: wait for the chunk in flight to release its tensors, and drop it. */
  async abandon(): Promise<void> {
    const last = this.pending;
    this.pending = undefined;
    await last?.reading.catch(() => undefined);
  }

  private async deliver({ reading, chunk }: NonNullable<ChunkStream['pending']>): Promise<void> {
    const started = performance.now();
    await reading;
    this.onReadback?.(performance.now() - started);
    await this.emit(chunk());
  }
}
