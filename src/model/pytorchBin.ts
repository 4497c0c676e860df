/**
 * `pytorch_model.bin`, for repos without safetensors: the zip archive `torch.save` writes
 * (torch ≥ 1.6) holding `<name>/data.pkl`, a pickle of the state dict whose tensors point by
 * persistent id to raw storages `<name>/data/<key>`. The pickle is read by the restricted reader
 * of pickle.ts, which allows only the globals a state dict needs and runs no code. The result
 * has the shape `parseSafetensors` returns, so the checkpoint loader reads either.
 */

import { PickleError, PyGlobal, PyTuple, unpickle, type PickleHooks } from './pickle';
import type { SafetensorsDtype, SafetensorsFile, TensorEntry } from './safetensors';
import { isZip, zipEntries, zipRead, ZipError, type ZipEntry } from './zip';

export class PytorchBinError extends Error {
  override name = 'PytorchBinError';
  constructor(
    readonly code: 'not-zip' | 'legacy-format' | 'corrupt' | 'forbidden' | 'unsupported',
    message: string,
  ) {
    super(`pytorch_model.bin: ${message}`);
  }
}

export interface PytorchBinFile extends SafetensorsFile {
  /** Tensors of integer or boolean storages (BERT's `position_ids`): no model weight needs them. */
  omitted: string[];
}

interface StorageType {
  /** The dtype the tensor is read as; null for integer and boolean storages. */
  dtype: SafetensorsDtype | null;
  bytes: number;
}

/** `torch.<Name>Storage` → element type (torch/storage.py, `_pickle_storage_type`). */
const STORAGES: Record<string, StorageType> = {
  FloatStorage: { dtype: 'F32', bytes: 4 },
  HalfStorage: { dtype: 'F16', bytes: 2 },
  BFloat16Storage: { dtype: 'BF16', bytes: 2 },
  // float64 is narrowed to float32 (a copy): the lab computes in float32.
  DoubleStorage: { dtype: 'F32', bytes: 8 },
  LongStorage: { dtype: null, bytes: 8 },
  IntStorage: { dtype: null, bytes: 4 },
  ShortStorage: { dtype: null, bytes: 2 },
  CharStorage: { dtype: null, bytes: 1 },
  ByteStorage: { dtype: null, bytes: 1 },
  BoolStorage: { dtype: null, bytes: 1 },
};

const REBUILDERS = ['_rebuild_tensor_v2', '_rebuild_parameter', '_rebuild_parameter_with_state'];

class StorageRef {
  constructor(
    readonly key: string,
    readonly type: StorageType,
  ) {}
}

class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

function intList(value: unknown, what: string): number[] {
  const items = value instanceof PyTuple ? value.items : value;
  if (!Array.isArray(items) || !items.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new PytorchBinError('corrupt', `a tensor's ${what} is not a tuple of sizes`);
  }
  return items as number[];
}

/** The hooks that let a state dict, and nothing else, out of the pickle. */
const HOOKS: PickleHooks = {
  allowGlobal: (module, name) =>
    (module === 'collections' && name === 'OrderedDict') ||
    (module === 'torch._utils' && REBUILDERS.includes(name)) ||
    (module === 'torch' && name in STORAGES),
  call(callable, args) {
    const { name } = callable;
    if (name === 'OrderedDict' && args.length === 0) return new Map();
    if (name === '_rebuild_tensor_v2') {
      const [storage, offset] = args;
      if (!(storage instanceof StorageRef) || !Number.isInteger(offset)) {
        throw new PytorchBinError('corrupt', '_rebuild_tensor_v2 without a storage and offset');
      }
      return new TensorRef(
        storage,
        offset as number,
        intList(args[2], 'size'),
        intList(args[3], 'stride'),
      );
    }
    if (name === '_rebuild_parameter' || name === '_rebuild_parameter_with_state') {
      if (!(args[0] instanceof TensorRef))
        throw new PytorchBinError('corrupt', `${name} of a non-tensor`);
      return args[0];
    }
    throw new PickleError(
      'forbidden',
      `the pickle calls ${callable.qualified}: refused, nothing was run`,
    );
  },
  persistentLoad(pid) {
    const [kind, type, key] = pid instanceof PyTuple ? pid.items : [];
    if (
      kind !== 'storage' ||
      !(type instanceof PyGlobal && type.name in STORAGES) ||
      typeof key !== 'string'
    ) {
      throw new PytorchBinError('corrupt', `persistent id ${String(kind)} is not a storage`);
    }
    return new StorageRef(key, STORAGES[type.name]);
  },
  build(target) {
    // An OrderedDict's state is the state dict's `_metadata` (module versions): not needed.
    if (!(target instanceof Map)) throw new PickleError('unsupported', 'BUILD of an object');
  },
};

/** Name → tensor, nested dicts flattened with '.'; other values (an `epoch` count) are ignored. */
function tensorsOf(
  value: unknown,
  prefix = '',
  out = new Map<string, TensorRef>(),
): Map<string, TensorRef> {
  if (!(value instanceof Map)) {
    throw new PytorchBinError('unsupported', 'the pickle is not a dict of tensors (a state dict)');
  }
  for (const [key, item] of value) {
    const name = `${prefix}${String(key)}`;
    if (item instanceof TensorRef) out.set(name, item);
    else if (item instanceof Map) tensorsOf(item, `${name}.`, out);
  }
  return out;
}

function isContiguous({ shape, stride }: TensorRef): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

/** Storage index of the first element of each row (last dimension) of a tensor, in order. */
function* rowStarts({ shape, stride, offset }: TensorRef): Generator<number> {
  const outer = shape.slice(0, -1);
  const rows = outer.reduce((a, b) => a * b, 1);
  const index = outer.map(() => 0);
  for (let r = 0; r < rows; r++) {
    let at = offset;
    for (let d = 0; d < outer.length; d++) at += index[d] * stride[d];
    yield at;
    for (let d = outer.length - 1; d >= 0 && ++index[d] === outer[d]; d--) index[d] = 0;
  }
}

const TYPED = { 1: Uint8Array, 2: Uint16Array, 4: Uint32Array } as const;

/**
 * A tensor's elements in row-major order as little-endian bytes, float64 narrowed to float32.
 * Rows that are contiguous are copied whole; strided ones element by element through typed views.
 */
function gather(t: TensorRef, src: Uint8Array): Uint8Array {
  const size = t.storage.type.bytes;
  const n = t.shape.reduce((a, b) => a * b, 1);
  const inner = t.shape.length === 0 ? 1 : t.shape[t.shape.length - 1];
  const step = t.shape.length === 0 ? 1 : t.stride[t.stride.length - 1];
  if (n === 0) return new Uint8Array(0);
  if (size === 8) {
    const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
    const out = new Float32Array(n);
    let k = 0;
    for (const start of rowStarts(t)) {
      for (let j = 0; j < inner; j++) out[k++] = view.getFloat64((start + j * step) * 8, true);
    }
    return new Uint8Array(out.buffer);
  }
  const Typed = TYPED[size as 1 | 2 | 4];
  // Typed views need aligned storage (torch aligns them in the archive; a copy otherwise).
  const aligned = src.byteOffset % size === 0 ? src : src.slice();
  const from = new Typed(
    aligned.buffer as ArrayBuffer,
    aligned.byteOffset,
    aligned.byteLength / size,
  );
  const out = new Typed(n);
  let k = 0;
  for (const start of rowStarts(t)) {
    if (step === 1) {
      out.set(from.subarray(start, start + inner), k);
      k += inner;
    } else {
      for (let j = 0; j < inner; j++) out[k++] = from[start + j * step];
    }
  }
  return new Uint8Array(out.buffer);
}

/**
 * Reads a `pytorch_model.bin`. Stored archives of contiguous float tensors (what `torch.save`
 * writes for a model) are returned as views into `bytes`, without a copy; otherwise (deflated
 * entries, strided views, float64) the tensors are copied into one new buffer.
 */
export async function parsePytorchBin(bytes: Uint8Array): Promise<PytorchBinFile> {
  try {
    return await parse(bytes);
  } catch (e) {
    throw asPytorchBinError(e);
  }
}

function asPytorchBinError(e: unknown): unknown {
  if (e instanceof ZipError) return new PytorchBinError('corrupt', e.message);
  if (e instanceof PickleError) {
    return new PytorchBinError(e.code === 'truncated' ? 'corrupt' : e.code, e.message);
  }
  return e;
}

function checkIsZip(bytes: Uint8Array): void {
  if (isZip(bytes)) return;
  if (bytes[0] === 0x80) {
    throw new PytorchBinError(
      'legacy-format',
      'saved in the format of torch before 1.6 (a bare pickle, not a zip archive): re-save it with a newer torch, or use model.safetensors',
    );
  }
  throw new PytorchBinError('not-zip', 'not a zip archive as torch.save writes');
}

/**
 * What the first bytes of a `pytorch_model.bin` tell before the rest downloads: `torch.save`
 * writes `data.pkl` first and uncompressed, and the pickle lists every tensor's storage type and
 * shape, so the float32 bytes the model will take are known (as from a safetensors header), and a
 * refused pickle is refused before the weights download. Null while the pickle has not all
 * arrived; `float32Bytes: null` when the archive does not start with a stored `data.pkl` (then
 * only the whole file tells).
 */
export function pytorchBinLayout(prefix: Uint8Array): { float32Bytes: number | null } | null {
  if (prefix.byteLength < 30) return null;
  try {
    checkIsZip(prefix);
    const v = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
    const nameLength = v.getUint16(26, true);
    const dataStart = 30 + nameLength + v.getUint16(28, true);
    if (prefix.byteLength < dataStart) return null;
    const name = new TextDecoder().decode(prefix.subarray(30, 30 + nameLength));
    if (!name.endsWith('data.pkl') || v.getUint16(8, true) !== 0) return { float32Bytes: null };
    const tensors = tensorsOf(unpickle(prefix.subarray(dataStart), HOOKS));
    let float32Bytes = 0;
    for (const t of tensors.values()) {
      if (t.storage.type.dtype !== null) float32Bytes += 4 * t.shape.reduce((a, b) => a * b, 1);
    }
    return { float32Bytes };
  } catch (e) {
    if (e instanceof PickleError && e.code === 'truncated') return null;
    throw asPytorchBinError(e);
  }
}

async function parse(bytes: Uint8Array): Promise<PytorchBinFile> {
  checkIsZip(bytes);
  const entries = zipEntries(bytes);
  const pkl = [...entries.keys()].find((name) => name.endsWith('data.pkl'));
  if (pkl === undefined) throw new PytorchBinError('corrupt', 'the archive has no data.pkl');
  const root = pkl.slice(0, -'data.pkl'.length);
  const byteorder = entries.get(`${root}byteorder`);
  if (byteorder && new TextDecoder().decode(await zipRead(bytes, byteorder)) !== 'little') {
    throw new PytorchBinError('unsupported', 'saved on a big-endian machine');
  }
  const tensors = tensorsOf(unpickle(await zipRead(bytes, entries.get(pkl)!), HOOKS));
  const storages = new Map<string, { entry: ZipEntry; data: Uint8Array }>();
  const omitted: string[] = [];
  for (const [name, t] of tensors) {
    if (t.storage.type.dtype === null) omitted.push(name);
    if (storages.has(t.storage.key)) continue;
    const entry = entries.get(`${root}data/${t.storage.key}`);
    if (!entry)
      throw new PytorchBinError('corrupt', `tensor "${name}": storage ${t.storage.key} is missing`);
    storages.set(t.storage.key, { entry, data: await zipRead(bytes, entry) });
  }
  for (const name of omitted) tensors.delete(name);
  for (const [name, t] of tensors) {
    const elements = storages.get(t.storage.key)!.data.byteLength / t.storage.type.bytes;
    const last = t.shape.reduce((at, size, d) => at + (size - 1) * t.stride[d], t.offset);
    if (t.stride.length !== t.shape.length || (t.shape.every((s) => s > 0) && last >= elements)) {
      throw new PytorchBinError('corrupt', `tensor "${name}" reaches past the end of its storage`);
    }
  }
  const zeroCopy = [...tensors.values()].every(
    (t) =>
      isContiguous(t) &&
      t.storage.type.bytes <= 4 &&
      storages.get(t.storage.key)!.entry.method === 0,
  );
  const file = zeroCopy ? viewsOf(bytes, tensors, storages) : copiesOf(tensors, storages);
  return { ...file, omitted };
}

type Storages = Map<string, { entry: ZipEntry; data: Uint8Array }>;

function viewsOf(
  bytes: Uint8Array,
  tensors: Map<string, TensorRef>,
  storages: Storages,
): SafetensorsFile {
  const entries = new Map<string, TensorEntry>();
  for (const [name, t] of tensors) {
    const size = t.storage.type.bytes;
    const begin = storages.get(t.storage.key)!.entry.dataStart + t.offset * size;
    const n = t.shape.reduce((a, b) => a * b, 1);
    entries.set(name, {
      dtype: t.storage.type.dtype!,
      shape: t.shape,
      begin,
      end: begin + n * size,
    });
  }
  return { entries, metadata: { format: 'pt' }, data: bytes };
}

function copiesOf(tensors: Map<string, TensorRef>, storages: Storages): SafetensorsFile {
  // Sized first, so that only one tensor's gathered copy exists at a time besides the result.
  const bytesOf = (t: TensorRef) =>
    t.shape.reduce((a, b) => a * b, 1) * Math.min(4, t.storage.type.bytes);
  const data = new Uint8Array([...tensors.values()].reduce((sum, t) => sum + bytesOf(t), 0));
  const entries = new Map<string, TensorEntry>();
  let at = 0;
  for (const [name, t] of tensors) {
    data.set(gather(t, storages.get(t.storage.key)!.data), at);
    entries.set(name, {
      dtype: t.storage.type.dtype!,
      shape: t.shape,
      begin: at,
      end: at + bytesOf(t),
    });
    at += bytesOf(t);
  }
  return { entries, metadata: { format: 'pt' }, data };
}
