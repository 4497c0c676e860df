/**
 * Reading the entries of a zip archive held in memory, as `torch.save` writes them
 * (https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT): the central directory at the
 * end lists each entry; stored entries (torch's default) are returned as views into the archive,
 * without a copy; deflated ones are inflated. ZIP64 records (archives or entries of 4 GB and
 * more) are read.
 */

export class ZipError extends Error {
  override name = 'ZipError';
}

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  size: number;
  compressedSize: number;
  /** Where the entry's (possibly compressed) bytes start in the archive. */
  dataStart: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX_COMMENT = 0xffff;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && view(bytes).getUint32(0, true) === LOCAL;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function u64(v: DataView, at: number): number {
  const n = v.getBigUint64(at, true);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError('a ZIP64 size is implausibly large');
  return Number(n);
}

/** The central directory's offset and entry count, from the end-of-central-directory record. */
function findDirectory(bytes: Uint8Array): { offset: number; count: number } {
  const v = view(bytes);
  const lowest = Math.max(0, bytes.byteLength - 22 - MAX_COMMENT);
  for (let at = bytes.byteLength - 22; at >= lowest; at--) {
    if (v.getUint32(at, true) !== EOCD) continue;
    let count = v.getUint16(at + 10, true);
    let offset = v.getUint32(at + 16, true);
    if ((count === 0xffff || offset === 0xffffffff) && at >= 20) {
      if (v.getUint32(at - 20, true) !== ZIP64_LOCATOR) {
        throw new ZipError('the ZIP64 end-of-directory locator is missing');
      }
      const record = u64(v, at - 20 + 8);
      if (record + 56 > bytes.byteLength || v.getUint32(record, true) !== ZIP64_EOCD) {
        throw new ZipError('the ZIP64 end-of-directory record is missing');
      }
      count = u64(v, record + 32);
      offset = u64(v, record + 48);
    }
    return { offset, count };
  }
  throw new ZipError('no end-of-directory record: the file is truncated or not a zip archive');
}

/** Every entry of the archive by name, with where its data lies; checks every range. */
export function zipEntries(bytes: Uint8Array): Map<string, ZipEntry> {
  const v = view(bytes);
  const { offset, count } = findDirectory(bytes);
  const entries = new Map<string, ZipEntry>();
  let at = offset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.byteLength || v.getUint32(at, true) !== CENTRAL) {
      throw new ZipError(`directory entry ${i} is corrupt`);
    }
    const method = v.getUint16(at + 10, true);
    let compressedSize = v.getUint32(at + 20, true);
    let size = v.getUint32(at + 24, true);
    const nameLength = v.getUint16(at + 28, true);
    const extraLength = v.getUint16(at + 30, true);
    const commentLength = v.getUint16(at + 32, true);
    let local = v.getUint32(at + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // ZIP64 extra field (id 1): the 64-bit values of the fields saturated at 0xffffffff, in order.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = v.getUint16(extra, true);
      const length = v.getUint16(extra + 2, true);
      if (id === 1) {
        let field = extra + 4;
        if (size === 0xffffffff) {
          size = u64(v, field);
          field += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = u64(v, field);
          field += 8;
        }
        if (local === 0xffffffff) local = u64(v, field);
      }
      extra += 4 + length;
    }
    if (local + 30 > bytes.byteLength || v.getUint32(local, true) !== LOCAL) {
      throw new ZipError(`entry "${name}" points to a missing local header`);
    }
    // The local header has its own extra field (torch pads data to 64 bytes there).
    const dataStart = local + 30 + v.getUint16(local + 26, true) + v.getUint16(local + 28, true);
    if (dataStart + compressedSize > bytes.byteLength) {
      throw new ZipError(`entry "${name}" runs past the end of the archive (truncated file?)`);
    }
    entries.set(name, { name, method, size, compressedSize, dataStart });
    at = extraEnd + commentLength;
  }
  return entries;
}

/** The entry's bytes: a view into the archive when stored, a new buffer when deflated. */
export async function zipRead(bytes: Uint8Array, entry: ZipEntry): Promise<Uint8Array> {
  const raw = bytes.subarray(entry.dataStart, entry.dataStart + entry.compressedSize);
  if (entry.method === 0) {
    if (entry.size !== entry.compressedSize) {
      throw new ZipError(`stored entry "${entry.name}" has two different sizes`);
    }
    return raw;
  }
  if (entry.method !== 8) {
    throw new ZipError(`entry "${entry.name}" uses compression method ${entry.method}`);
  }
  const stream = new Blob([raw.slice()])
    .stream()
    .pipeThrough(new DecompressionStream('deflate-raw'));
  let out: Uint8Array;
  try {
    out = new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new ZipError(`entry "${entry.name}" does not inflate: ${(e as Error).message}`);
  }
  if (out.byteLength !== entry.size) {
    throw new ZipError(
      `entry "${entry.name}" inflates to ${out.byteLength} bytes, not ${entry.size}`,
    );
  }
  return out;
}
