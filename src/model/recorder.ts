import * as tf from '@tensorflow/tfjs';
import type { Matrix } from './trace';

/**
 * Collects the tensors one trace chunk needs and reads them back from the device in a single
 * transfer: one `data()` per layer instead of one per tensor (each readback stalls the GPU).
 */
export class Recorder {
  private pending: { tensor: tf.Tensor; target: Matrix }[] = [];

  /** Keep `t` alive past the enclosing tidy and return the Matrix its values will fill on flush. */
  record(t: tf.Tensor): Matrix {
    const target: Matrix = { shape: t.shape.slice(), data: new Float32Array(0) };
    this.pending.push({ tensor: tf.keep(t), target });
    return target;
  }

  /** Read everything recorded back in one transfer; resolves to the milliseconds spent waiting. */
  async flush(): Promise<number> {
    if (this.pending.length === 0) return 0;
    const pending = this.pending;
    this.pending = [];
    const flat = tf.tidy(() => tf.concat(pending.map((p) => p.tensor.reshape([-1]).toFloat())));
    const started = performance.now();
    const data = (await flat.data()) as Float32Array;
    const waited = performance.now() - started;
    flat.dispose();
    let offset = 0;
    for (const { tensor, target } of pending) {
      // Views into one buffer: the whole chunk crosses to the page as a single transferable.
      target.data = data.subarray(offset, offset + tensor.size);
      offset += tensor.size;
      tensor.dispose();
    }
    return waited;
  }

  /** Drop what was recorded without reading it (a cancelled forward). */
  discard(): void {
    for (const p of this.pending) p.tensor.dispose();
    this.pending = [];
  }
}
