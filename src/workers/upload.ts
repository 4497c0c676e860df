/**
 * Weights into GPU memory tensor by tensor. tfjs's WebGL backend keeps a new tensor's values on
 * the CPU until a kernel first reads it, so a freshly loaded model holds a float32 copy of every
 * weight in the worker's heap next to the downloaded file: twice the weights at the peak. While
 * a checkpoint loads, this moves each tensor to a texture as soon as the next one is read (the
 * backend then drops its CPU copy), so the peak is the file plus about one tensor.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The part of tfjs's WebGL backend this uses (public members of MathBackendWebGL, 4.22). */
interface UploadingBackend {
  write(values: unknown, shape: number[], dtype: tf.DataType): tf.DataId;
  uploadToGPU(dataId: tf.DataId): void;
  texData: { has(dataId: tf.DataId): boolean; get(dataId: tf.DataId): { isPacked?: boolean } };
}

function uploadingBackend(): UploadingBackend | null {
  const backend = tf.backend() as unknown as Partial<UploadingBackend>;
  return tf.getBackend() === 'webgl' &&
    typeof backend.uploadToGPU === 'function' &&
    typeof backend.write === 'function' &&
    backend.texData
    ? (backend as UploadingBackend)
    : null;
}

/**
 * Run `build`, which creates tensors from host arrays and calls `step` between them (the
 * checkpoint loader's progress callback); on WebGL every tensor written so far is uploaded at
 * each step and at the end. Other backends hold weights in their own memory: nothing to do.
 */
export function uploadingEachTensor<T>(build: (step: () => void) => T): T {
  const backend = uploadingBackend();
  if (!backend) return build(() => {});
  const pending: tf.DataId[] = [];
  const write = backend.write;
  backend.write = function (values, shape, dtype) {
    const dataId = write.call(this, values, shape, dtype);
    // Kernel outputs are written without values; only uploads carry them.
    if (values != null) pending.push(dataId);
    return dataId;
  };
  const flush = () => {
    for (const dataId of pending.splice(0)) {
      // Tensors freed meanwhile (a tidy's intermediates) have nothing left to upload.
      if (!backend.texData.has(dataId)) continue;
      const data = backend.texData.get(dataId);
      // Packed, as tfjs would upload them for their first reader (matMul and the element-wise
      // kernels are packed programs); unpacked textures would be repacked on every forward.
      data.isPacked = true;
      backend.uploadToGPU(dataId);
    }
  };
  try {
    const result = build(flush);
    flush();
    return result;
  } finally {
    backend.write = write;
  }
}
