import * as tf from '@tensorflow/tfjs-core';
import type { Matrix } from './trace';

/**
 * Collects the tensors one trace chunk needs and reads them back together: every download is
 * queued before the first one is awaited, so the device is waited on once per chunk, not once
 * per tensor. The values land in one buffer, which crosses to the page as a single transferable.
 *
 * Why not concatenate on the device and read one tensor: on WebGL that costs a reshape, an
 * unpack and a concat pass per recorded tensor on top of the download's own pass, which made
 * the traced forward measurably slower (docs/performance.md, trace overhead).
 */
export class Recorder {
  private pending: { tensor: tf.Tensor; target: Matrix; apart: boolean }[] = [];

  /**
   * Keep `t` alive past the enclosing tidy and return the Matrix its values will fill on flush.
   * `apart`: in a buffer of its own, not the shared one that moves to the page: for values only
   * the worker reads (a long input's probabilities, summarised there and dropped).
   */
  record(t: tf.Tensor, apart = false): Matrix {
    const target: Matrix = { shape: t.shape.slice(), data: new Float32Array(0) };
    this.pending.push({ tensor: tf.keep(t), target, apart });
    return target;
  }

  /**
   * Queue the downloads of everything recorded (synchronously, before this returns) and resolve
   * once the values have filled their matrices. The tensors are disposed either way.
   */
  async flush(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    if (pending.length === 0) return;
    try {
      const parts = await Promise.all(pending.map(({ tensor }) => tensor.data<'float32'>()));
      const shared = (i: number) => !pending[i].apart;
      const length = parts.reduce((total, part, i) => total + (shared(i) ? part.length : 0), 0);
      const data = new Float32Array(length);
      let offset = 0;
      pending.forEach(({ target }, i) => {
        if (!shared(i)) {
          target.data = parts[i];
          return;
        }
        data.set(parts[i], offset);
        target.data = data.subarray(offset, offset + parts[i].length);
        offset += parts[i].length;
      });
    } finally {
      for (const { tensor } of pending) tensor.dispose();
    }
  }

  /** Drop what was recorded without reading it (a cancelled forward). */
  discard(): void {
    for (const p of this.pending) p.tensor.dispose();
    this.pending = [];
  }
}
