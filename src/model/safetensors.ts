/**
 * The safetensors container (https://huggingface.co/docs/safetensors): an 8-byte little-endian
 * header length, a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}}`, then the
 * raw little-endian tensor bytes. The reader validates everything before it trusts any of it:
 * a corrupt file must give a specific error, never a crash or a silently wrong model.
 */

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

export interface TensorEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte range inside the data section (after the header). */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  entries: Map<string, TensorEntry>;
  metadata: Record<string, string>;
  /** The data section, a view into the original bytes (no copy). */
  data: Uint8Array;
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  constructor(
    readonly code:
      | 'too-short'
      | 'header-length'
      | 'header-json'
      | 'bad-entry'
      | 'unknown-dtype'
      | 'offsets'
      | 'overlap'
      | 'shape-size',
    message: string,
  ) {
    super(message);
  }
}

const BYTES_PER_ELEMENT: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };
/** Headers above this are not plausible for a model file and would only waste memory. */
const MAX_HEADER_BYTES = 100_000_000;

export function parseSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (bytes.byteLength < 8) {
    throw new SafetensorsError(
      'too-short',
      `model.safetensors is truncated: ${bytes.byteLength} bytes, not even the 8-byte header length`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.byteLength - 8 || headerLength > MAX_HEADER_BYTES) {
    throw new SafetensorsError(
      'header-length',
      `model.safetensors is truncated or corrupt: its header claims ${headerLength} bytes but the file has ${bytes.byteLength - 8} after the length field`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)),
    );
  } catch (e) {
    throw new SafetensorsError(
      'header-json',
      `model.safetensors has a corrupt header: not valid JSON (${(e as Error).message})`,
    );
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError(
      'header-json',
      'model.safetensors has a corrupt header: not a JSON object',
    );
  }
  const data = bytes.subarray(8 + headerLength);
  const entries = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    entries.set(name, checkEntry(name, raw, data.byteLength));
  }
  checkNoOverlap(entries);
  return { entries, metadata, data };
}

function checkEntry(name: string, raw: unknown, dataBytes: number): TensorEntry {
  const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof e !== 'object' || e === null) {
    throw new SafetensorsError('bad-entry', `tensor "${name}": header entry is not an object`);
  }
  if (typeof e.dtype !== 'string' || !(e.dtype in BYTES_PER_ELEMENT)) {
    throw new SafetensorsError(
      'unknown-dtype',
      `tensor "${name}": dtype ${JSON.stringify(e.dtype)} is not supported (F32, F16 and BF16 are)`,
    );
  }
  const dtype = e.dtype as SafetensorsDtype;
  const shape = e.shape;
  if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new SafetensorsError(
      'bad-entry',
      `tensor "${name}": shape ${JSON.stringify(shape)} is not a list of sizes`,
    );
  }
  const offsets = e.data_offsets;
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isInteger(o) && o >= 0)
  ) {
    throw new SafetensorsError(
      'offsets',
      `tensor "${name}": data_offsets ${JSON.stringify(offsets)} are not two byte offsets`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataBytes) {
    throw new SafetensorsError(
      'offsets',
      `tensor "${name}": bytes ${begin}–${end} lie outside the ${dataBytes}-byte data section (truncated file?)`,
    );
  }
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  if (elements * BYTES_PER_ELEMENT[dtype] !== end - begin) {
    throw new SafetensorsError(
      'shape-size',
      `tensor "${name}": shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${elements * BYTES_PER_ELEMENT[dtype]} bytes, the offsets give ${end - begin}`,
    );
  }
  return { dtype, shape: shape as number[], begin, end };
}

function checkNoOverlap(entries: Map<string, TensorEntry>): void {
  const sorted = [...entries]
    .filter(([, e]) => e.end > e.begin)
    .sort((a, b) => a[1].begin - b[1].begin);
  for (let i = 1; i < sorted.length; i++) {
    const [prevName, prev] = sorted[i - 1];
    const [name, cur] = sorted[i];
    if (cur.begin < prev.end) {
      throw new SafetensorsError(
        'overlap',
        `tensors "${prevName}" and "${name}" overlap in the data section`,
      );
    }
  }
}

/** IEEE half → float. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Widen a tensor of the file to float32 (F16 and BF16 are stored to halve downloads). */
export function readFloat32(file: SafetensorsFile, name: string): Float32Array {
  const e = file.entries.get(name);
  if (!e) throw new SafetensorsError('bad-entry', `tensor "${name}" is not in the file`);
  const bytes = file.data.subarray(e.begin, e.end);
  const n = (e.end - e.begin) / BYTES_PER_ELEMENT[e.dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  if (e.dtype === 'F32') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (e.dtype === 'F16') {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  } else {
    const u32 = new Uint32Array(1);
    const f32 = new Float32Array(u32.buffer);
    for (let i = 0; i < n; i++) {
      u32[0] = view.getUint16(i * 2, true) << 16;
      out[i] = f32[0];
    }
  }
  return out;
}

/** float → IEEE half, round to nearest even. */
function floatToHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly rounds up into the exponent.
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** Write tensors into a safetensors file; keys are sorted so that output is deterministic. */
export function writeSafetensors(
  tensors: Record<string, { shape: number[]; data: Float32Array }>,
  dtype: 'F32' | 'F16' = 'F32',
  metadata: Record<string, string> = {},
): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const bytes = tensors[name].data.length * BYTES_PER_ELEMENT[dtype];
    header[name] = { dtype, shape: tensors[name].shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let headerText = JSON.stringify(header);
  // Pad the header with spaces so that the data section is 8-byte aligned, as the spec recommends.
  headerText += ' '.repeat((8 - ((new TextEncoder().encode(headerText).length + 8) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const src = tensors[name].data;
    if (dtype === 'F32') {
      for (let i = 0; i < src.length; i++, pos += 4) view.setFloat32(pos, src[i], true);
    } else {
      for (let i = 0; i < src.length; i++, pos += 2) view.setUint16(pos, floatToHalf(src[i]), true);
    }
  }
  return out;
}
