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

/** Storage element indices of a tensor, in row-major order. */
function* elementIndices({ shape, stride, offset }: TensorRef): Generator<number> {
  const n = shape.reduce((a, b) => a * b, 1);
  const index = shape.map(() => 0);
  for (let i = 0; i < n; i++) {
    let at = offset;
    for (let d = 0; d < shape.length; d++) at += index[d] * stride[d];
    yield at;
    for (let d = shape.length - 1; d >= 0 && ++index[d] === shape[d]; d--) index[d] = 0;
  }
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
    if (e instanceof ZipError) throw new PytorchBinError('corrupt', e.message);
    if (e instanceof PickleError) throw new PytorchBinError(e.code, e.message);
    throw e;
  }
}

async function parse(bytes: Uint8Array): Promise<PytorchBinFile> {
  if (!isZip(bytes)) {
    if (bytes[0] === 0x80) {
      throw new PytorchBinError(
        'legacy-format',
        'saved in the format of torch before 1.6 (a bare pickle, not a zip archive): re-save it with a newer torch, or use model.safetensors',
      );
    }
    throw new PytorchBinError('not-zip', 'not a zip archive as torch.save writes');
  }
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
  const outSize = (t: TensorRef) => (t.storage.type.bytes === 8 ? 4 : t.storage.type.bytes);
  let total = 0;
  for (const t of tensors.values()) total += t.shape.reduce((a, b) => a * b, 1) * outSize(t);
  const data = new Uint8Array(total);
  const out = new DataView(data.buffer);
  const entries = new Map<string, TensorEntry>();
  let at = 0;
  for (const [name, t] of tensors) {
    const src = storages.get(t.storage.key)!.data;
    const size = t.storage.type.bytes;
    const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
    const begin = at;
    for (const i of elementIndices(t)) {
      if (size === 8) out.setFloat32(at, view.getFloat64(i * 8, true), true);
      else data.set(src.subarray(i * size, (i + 1) * size), at);
      at += outSize(t);
    }
    entries.set(name, { dtype: t.storage.type.dtype!, shape: t.shape, begin, end: at });
  }
  return { entries, metadata: { format: 'pt' }, data };
}
