/**
 * The safetensors container (https://huggingface.co/docs/safetensors): an 8-byte little-endian
 * header length, a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}}`, then the
 * raw little-endian tensor bytes. The reader validates everything before it trusts any of it:
 * a corrupt file must give a specific error, never a crash or a silently wrong model.
 */
import { found } from './jsonValue';

/** Every dtype of the format; weights are read from the float ones (`readFloat32`). */
export type SafetensorsDtype =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'I64'
  | 'U64'
  | 'I32'
  | 'U32'
  | 'I16'
  | 'U16'
  | 'I8'
  | 'U8'
  | 'BOOL';

export interface TensorEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte range inside the data section (after the header). */
  begin: number;
  end: number;
}

/** What the header says: the entries, and the sizes a download checks before the data arrives. */
export interface SafetensorsHeader {
  entries: Map<string, TensorEntry>;
  metadata: Record<string, string>;
  /** Bytes of the JSON header, after the 8-byte length field. */
  headerLength: number;
  /** Size of the whole file: 8 + header + the data section the tensors tile. */
  fileBytes: number;
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
      | 'unsupported-dtype'
      | 'offsets'
      | 'overlap'
      | 'gap'
      | 'trailing-bytes'
      | 'shape-size',
    message: string,
  ) {
    super(message);
  }
}

const BYTES_PER_ELEMENT: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I64: 8,
  U64: 8,
  I32: 4,
  U32: 4,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};
/** The dtypes `readFloat32` reads. */
const READABLE = ['F32', 'F16', 'BF16', 'F64'] as const;
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
/** Headers above this are not plausible for a model file and would only waste memory. */
const MAX_HEADER_BYTES = 100_000_000;

/** Floating-point dtypes hold weights; integer and boolean ones hold buffers (ids, masks). */
export function isFloatDtype(dtype: SafetensorsDtype): boolean {
  return dtype.startsWith('F') || dtype === 'BF16';
}

/**
 * Parse and check a whole file, as the reference implementation does: a header length that
 * fits, a JSON header whose tensors fill the data section exactly (from byte 0, no gaps, no
 * overlaps, ending at the end of the file). A header length off by a few bytes would otherwise
 * read every tensor shifted, a silently wrong model.
 */
export function parseSafetensors(bytes: Uint8Array): SafetensorsFile {
  return fileWithHeader(parseSafetensorsHeader(bytes, bytes.byteLength), bytes);
}

/**
 * The file from a header already checked against all of `bytes` (a download's stream check,
 * which saw every byte and its length match `header.fileBytes`): a 50 MB header parsed once.
 */
export function fileWithHeader(header: SafetensorsHeader, bytes: Uint8Array): SafetensorsFile {
  if (bytes.byteLength !== header.fileBytes) {
    throw new SafetensorsError(
      'offsets',
      `model.safetensors has ${bytes.byteLength} bytes but its header describes ${header.fileBytes}`,
    );
  }
  const { entries, metadata, headerLength } = header;
  return { entries, metadata, data: bytes.subarray(8 + headerLength) };
}

/**
 * The header-length field of a file's first 8 bytes (at least 8 given), checked against the
 * file's size (`fileBytes`; null while a stream without a length has not ended).
 */
export function safetensorsHeaderLength(bytes: Uint8Array, fileBytes: number | null): number {
  if (bytes.byteLength < 8 || (fileBytes !== null && fileBytes < 8)) {
    throw new SafetensorsError(
      'too-short',
      `model.safetensors is truncated: ${fileBytes ?? bytes.byteLength} bytes, not even the 8-byte header length`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const headerLength = Number(view.getBigUint64(0, true));
  if (fileBytes !== null && headerLength > fileBytes - 8) {
    throw new SafetensorsError(
      'header-length',
      `model.safetensors is truncated or corrupt: its header claims ${headerLength} bytes but the file has ${fileBytes - 8} after the length field`,
    );
  }
  if (headerLength > MAX_HEADER_BYTES) {
    throw new SafetensorsError(
      'header-length',
      `model.safetensors is corrupt: its header claims ${headerLength} bytes, more than the ${MAX_HEADER_BYTES} a model's header plausibly takes`,
    );
  }
  return headerLength;
}

/**
 * The validated header, from `bytes` that hold at least the length field and the header (a
 * download checks them before the data arrives). `fileBytes`: the whole file's size, or null
 * while unknown: the data section then ends where the tensors, which must tile it, end.
 */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  fileBytes: number | null,
): SafetensorsHeader {
  const headerLength = safetensorsHeaderLength(bytes, fileBytes);
  if (bytes.byteLength < 8 + headerLength) {
    throw new SafetensorsError(
      'header-length',
      `model.safetensors is truncated: it ends after ${bytes.byteLength} bytes, inside its ${headerLength}-byte header`,
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
  const entries = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(raw);
      continue;
    }
    entries.set(name, checkEntry(name, raw));
  }
  const dataBytes = checkLayout(entries);
  if (fileBytes !== null) checkDataLength(entries, dataBytes, fileBytes - 8 - headerLength);
  return { entries, metadata, headerLength, fileBytes: 8 + headerLength + dataBytes };
}

/** The tensors, which end at `dataBytes`, must end exactly at the end of the file. */
function checkDataLength(entries: Map<string, TensorEntry>, dataBytes: number, known: number) {
  if (dataBytes > known) {
    const [name, e] = [...entries].find(([, e]) => e.end > known)!;
    throw new SafetensorsError(
      'offsets',
      `tensor "${name}": bytes ${e.begin}–${e.end} lie outside the ${known}-byte data section (truncated file?)`,
    );
  }
  if (dataBytes < known) {
    const extra = known - dataBytes;
    throw new SafetensorsError(
      'trailing-bytes',
      `model.safetensors is corrupt: its tensors end at byte ${dataBytes} of the data section but the file has ${extra} more byte${extra === 1 ? '' : 's'} after it (is the header length field wrong?)`,
    );
  }
}

function checkMetadata(raw: unknown): Record<string, string> {
  if (
    typeof raw !== 'object' ||
    raw === null ||
    Array.isArray(raw) ||
    !Object.values(raw).every((v) => typeof v === 'string')
  ) {
    throw new SafetensorsError(
      'bad-entry',
      `model.safetensors: "__metadata__" must map names to strings, but ${found(raw)}`,
    );
  }
  return raw as Record<string, string>;
}

function checkEntry(name: string, raw: unknown): TensorEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SafetensorsError('bad-entry', `tensor "${name}": header entry is not an object`);
  }
  const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof e.dtype !== 'string' || !Object.hasOwn(BYTES_PER_ELEMENT, e.dtype)) {
    throw new SafetensorsError(
      'unknown-dtype',
      `tensor "${name}": dtype must be one of the format's (F32, F16, BF16, I64, …), but ${found(e.dtype)}`,
    );
  }
  const dtype = e.dtype as SafetensorsDtype;
  const shape = e.shape;
  if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new SafetensorsError(
      'bad-entry',
      `tensor "${name}": shape must be a list of sizes, but ${found(shape)}`,
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
      `tensor "${name}": data_offsets must be two byte offsets [begin, end], but ${found(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) {
    throw new SafetensorsError(
      'offsets',
      `tensor "${name}": data_offsets [${begin}, ${end}] end before they begin`,
    );
  }
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  const needed = elements * BYTES_PER_ELEMENT[dtype];
  if (needed !== end - begin) {
    throw new SafetensorsError(
      'shape-size',
      `tensor "${name}": shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${needed} bytes, the offsets give ${end - begin}`,
    );
  }
  return { dtype, shape: shape as number[], begin, end };
}

/** The tensors must tile the data section from byte 0: no overlap, no gap. Returns its length. */
function checkLayout(entries: Map<string, TensorEntry>): number {
  const sorted = [...entries].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let offset = 0;
  let prevName = '';
  for (const [name, e] of sorted) {
    if (e.begin < offset) {
      throw new SafetensorsError(
        'overlap',
        `tensors "${prevName}" and "${name}" overlap in the data section`,
      );
    }
    if (e.begin > offset) {
      throw new SafetensorsError(
        'gap',
        prevName === ''
          ? `tensor "${name}" starts at byte ${e.begin} of the data section, but the first tensor must start at 0`
          : `bytes ${offset}–${e.begin} of the data section, between tensors "${prevName}" and "${name}", belong to no tensor`,
      );
    }
    offset = e.end;
    prevName = name;
  }
  return offset;
}

/** IEEE half → float, exactly (every half is a float32). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Every half's float, made on the first F16 tensor: a lookup per value (docs/checkpoints.md). */
let halfTable: Float32Array | null = null;

function halves(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
  }
  return halfTable;
}

/** The 16-bit values of `bytes` (little-endian): a view where aligned, else a copy. */
function uint16s(bytes: Uint8Array): Uint16Array {
  const n = bytes.byteLength / 2;
  if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) {
    return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Uint16Array.from({ length: n }, (_, i) => view.getUint16(i * 2, true));
}

/**
 * A tensor of the file as float32: F16 and BF16 (stored to halve downloads) widened, F64
 * narrowed (a value beyond float32's range becomes ±∞).
 */
export function readFloat32(file: SafetensorsFile, name: string): Float32Array {
  const e = file.entries.get(name);
  if (!e) throw new SafetensorsError('bad-entry', `tensor "${name}" is not in the file`);
  if (!(READABLE as readonly string[]).includes(e.dtype)) {
    throw new SafetensorsError(
      'unsupported-dtype',
      `tensor "${name}" is ${e.dtype}, but weights must be ${READABLE.join(', ')}`,
    );
  }
  const bytes = file.data.subarray(e.begin, e.end);
  const n = (e.end - e.begin) / BYTES_PER_ELEMENT[e.dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  if (e.dtype === 'F32' && LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) {
    // The common case, aligned as writers pad the header: one copy.
    out.set(new Float32Array(bytes.buffer, bytes.byteOffset, n));
  } else if (e.dtype === 'F32') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (e.dtype === 'F64') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
  } else if (e.dtype === 'F16') {
    const table = halves();
    const h = uint16s(bytes);
    for (let i = 0; i < n; i++) out[i] = table[h[i]];
  } else {
    // BF16 is a float32's upper half: its bits, shifted into place.
    const h = uint16s(bytes);
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = h[i] << 16;
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
