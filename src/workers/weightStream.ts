/**
 * Reading a safetensors file as it streams in, so that peak memory stays at one copy of it: the
 * header is checked first (its sizes against the budget, so a model too big for the device is
 * refused before it downloads), then the rest streams into ONE buffer of the file's exact size.
 * The header is parsed once, by `src/model/safetensors.ts`, and handed on with the bytes: the
 * checkpoint reader does not parse it again (a header can be 50 MB; docs/reliability.md).
 */
import { formatBytes } from '../model/formatBytes';
import { PytorchBinError, pytorchBinLayout } from '../model/pytorchBin';
import { ModelFileError, tooLarge, truncated } from './fetchErrors';
import {
  fileWithHeader,
  parseSafetensorsHeader,
  safetensorsHeaderLength,
  type SafetensorsFile,
  type SafetensorsHeader,
} from '../model/safetensors';

export type Progress = (loaded: number, total: number) => void;

/** A weight file read whole. */
export interface WeightRead {
  /** All of the file, in a buffer of exactly its size. */
  bytes: Uint8Array;
  /** What the tensors the header lists take as float32. */
  float32Bytes: number;
  /** A safetensors file, parsed: its header as the stream check parsed and checked it. */
  safetensors?: SafetensorsFile;
}

/**
 * A header already parsed from the same file (its download into the cache): taken as it is
 * when the file's first `prefix.byteLength` bytes are `prefix`, parsed again otherwise.
 */
export interface KnownHeader {
  header: SafetensorsHeader;
  /** The length field and the header's text. */
  prefix: Uint8Array;
}

export interface Layout {
  /** Size of the whole file as the header describes it: 8 + header + data. */
  fileBytes: number;
  /** What the tensors the header lists take as float32. */
  float32Bytes: number;
}

/** Without a Content-Length the buffer starts this big (or at the file's size) and doubles. */
const FIRST_CAPACITY = 1 << 20;

/**
 * The start of a safetensors stream, chunk by chunk, until its header is in: then the sizes it
 * gives are checked against the budget and the announced length. Throws what is wrong. The
 * chunks are kept as they come and joined once, when the header is complete: linear in its size.
 */
export class HeaderCheck {
  /** The chunks seen until the header was complete (one, joined, once it is). */
  head: Uint8Array[] = [];
  headBytes = 0;
  layout: Layout | null = null;
  /** The parsed header, once complete and checked. */
  header: SafetensorsHeader | null = null;
  private headerLength: number | null = null;

  constructor(
    private readonly file: string,
    /** Content-Length or file size; 0 when unknown. */
    private readonly announced: number,
    private readonly budget: number,
    private readonly known: KnownHeader | null = null,
  ) {
    // Float32 needs at least as many bytes as the file has (F16/BF16 files need twice as many).
    if (announced > budget) throw tooLarge(`${file} is ${formatBytes(announced)}`, budget);
  }

  /** Take the next chunk; the layout once the header is complete. */
  feed(chunk: Uint8Array): Layout | null {
    if (this.layout) return this.layout;
    this.head.push(chunk);
    this.headBytes += chunk.byteLength;
    if (this.headerLength === null) {
      if (this.headBytes < 8) return null;
      this.headerLength = this.corruptIfThrows(() =>
        safetensorsHeaderLength(this.joined(), this.announced || null),
      );
    }
    if (this.headBytes < 8 + this.headerLength) return null;
    const head = this.joined();
    const header =
      this.known && sameBytes(head, this.known.prefix)
        ? this.known.header
        : this.corruptIfThrows(() => parseSafetensorsHeader(head, null));
    this.layout = this.checked(header);
    this.header = header;
    return this.layout;
  }

  /** The length field and the header's text, once the header is complete. */
  prefix(): Uint8Array {
    return this.joined().subarray(0, 8 + this.headerLength!);
  }

  /** The stream ended: it must not have ended inside the header. */
  end(): Layout {
    if (!this.layout) {
      throw new ModelFileError(
        'corrupt',
        `${this.file} is truncated: it ends after ${this.headBytes} bytes, inside its header`,
      );
    }
    return this.layout;
  }

  /** The head as one array; joined at most twice (for the length field, for the header). */
  private joined(): Uint8Array {
    if (this.head.length > 1) this.head = [concat(this.head, this.headBytes)];
    return this.head[0];
  }

  private checked(header: SafetensorsHeader): Layout {
    let elements = 0;
    for (const e of header.entries.values()) elements += e.shape.reduce((a, b) => a * b, 1);
    const layout = { fileBytes: header.fileBytes, float32Bytes: elements * 4 };
    if (layout.float32Bytes > this.budget) {
      throw tooLarge(
        `the model needs ${formatBytes(layout.float32Bytes)} as float32 (${(layout.float32Bytes / 4e6).toFixed(0)} M parameters in ${this.file})`,
        this.budget,
      );
    }
    // Without a Content-Length the header's own sizes are all there is: the same budget.
    if (layout.fileBytes > this.budget) {
      throw tooLarge(
        `${this.file}'s header describes ${formatBytes(layout.fileBytes)}`,
        this.budget,
      );
    }
    if (this.announced > 0 && this.announced !== layout.fileBytes) {
      throw new ModelFileError(
        'corrupt',
        `${this.file} is ${this.announced} bytes but its header describes ${layout.fileBytes}: ${this.announced < layout.fileBytes ? 'the file is truncated' : 'it has bytes after its last tensor'}`,
      );
    }
    return layout;
  }

  /** The reader's own errors, as a file error that names the file. */
  private corruptIfThrows<T>(read: () => T): T {
    try {
      return read();
    } catch (e) {
      throw new ModelFileError('corrupt', (e as Error).message);
    }
  }
}

/**
 * The file's bytes as they arrive, in one buffer of its exact size in the end. Where the size
 * was announced (and matched the header) the buffer is made at once; where it was not, the
 * header's size is only a ceiling: the buffer doubles as data arrives, up to it, so that a
 * header that lies costs no more memory than the bytes that really came.
 */
class FileBuffer {
  private bytes: Uint8Array;
  loaded = 0;

  constructor(
    private readonly file: string,
    private readonly fileBytes: number,
    trusted: boolean,
  ) {
    this.bytes = new Uint8Array(trusted ? fileBytes : Math.min(fileBytes, FIRST_CAPACITY));
  }

  append(chunk: Uint8Array): void {
    const end = this.loaded + chunk.byteLength;
    if (end > this.fileBytes) {
      throw new ModelFileError(
        'corrupt',
        `${this.file} is longer than the ${this.fileBytes} bytes its header describes`,
      );
    }
    if (end > this.bytes.byteLength) {
      const grown = new Uint8Array(Math.min(this.fileBytes, Math.max(end, 2 * this.bytes.length)));
      grown.set(this.bytes.subarray(0, this.loaded));
      this.bytes = grown;
    }
    this.bytes.set(chunk, this.loaded);
    this.loaded = end;
  }

  /** All of the file, in a buffer of exactly its size. */
  complete(): Uint8Array {
    if (this.loaded < this.fileBytes) throw truncated(this.file, this.loaded, this.fileBytes);
    return this.bytes;
  }
}

/**
 * Read a safetensors stream: the header first (checked against `budget`), then the rest into
 * one buffer. `announced` is the Content-Length or file size (0 when unknown).
 */
export async function readSafetensors(
  file: string,
  stream: ReadableStream<Uint8Array>,
  announced: number,
  budget: number,
  onProgress: Progress,
  known: KnownHeader | null = null,
): Promise<WeightRead> {
  const reader = stream.getReader();
  try {
    const check = new HeaderCheck(file, announced, budget, known);
    for (let layout: Layout | null = null; !layout;) {
      const { done, value } = await reader.read();
      if (done) break;
      layout = check.feed(value);
      onProgress(check.headBytes, layout?.fileBytes ?? announced);
    }
    const { fileBytes, float32Bytes } = check.end();
    const buffer = new FileBuffer(file, fileBytes, announced > 0);
    check.head.forEach((chunk) => buffer.append(chunk));
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer.append(value);
      onProgress(buffer.loaded, fileBytes);
    }
    const bytes = buffer.complete();
    onProgress(buffer.loaded, fileBytes);
    return { bytes, float32Bytes, safetensors: fileWithHeader(check.header!, bytes) };
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
}

/**
 * Read a `pytorch_model.bin` stream into one buffer. Its header check is the pickle at the
 * archive's start (`pytorchBinLayout`): the float32 size of its tensors against `budget`, and a
 * refused pickle refused, before the rest downloads. The archive does not state its own length,
 * so the bytes that came are held to the budget as they arrive.
 */
export async function readPytorchBin(
  file: string,
  stream: ReadableStream<Uint8Array>,
  announced: number,
  budget: number,
  onProgress: Progress,
): Promise<WeightRead> {
  if (announced > budget) throw tooLarge(`${file} is ${formatBytes(announced)}`, budget);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  let float32Bytes: number | null = null;
  let checked = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.byteLength;
      if (loaded > budget) throw tooLarge(`${file} is over ${formatBytes(loaded)}`, budget);
      if (!checked) {
        const layout = binLayout(file, concat(chunks, loaded));
        checked = layout !== null;
        float32Bytes = layout?.float32Bytes ?? null;
        if (float32Bytes !== null && float32Bytes > budget) {
          throw tooLarge(`the model needs ${formatBytes(float32Bytes)} as float32`, budget);
        }
      }
      onProgress(loaded, announced);
    }
    if (announced > 0 && loaded < announced) throw truncated(file, loaded, announced);
    // Without a stored pickle first, the whole file is the only measure: float32 ≥ its bytes.
    return { bytes: concat(chunks, loaded), float32Bytes: float32Bytes ?? loaded };
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
}

/** `pytorchBinLayout`, its refusals as a file error that names the file. */
function binLayout(file: string, prefix: Uint8Array): { float32Bytes: number | null } | null {
  try {
    return pytorchBinLayout(prefix);
  } catch (e) {
    if (!(e instanceof PytorchBinError)) throw e;
    throw new ModelFileError('corrupt', `${file}: ${e.message}`);
  }
}

/**
 * A download on its way into the cache: every chunk passes through (nothing but the header is
 * kept), bytes are reported, and the header is checked as soon as it is in; a problem errors
 * the stream, which stops the download and the write, and `problem()` says what it was. A file
 * announced bigger than the budget is refused here and now. `header()`: the checked header, for
 * reading the file back from the cache without parsing it again.
 */
export function checkedDownload(
  file: string,
  announced: number,
  budget: number,
  onProgress: Progress,
): {
  stream: TransformStream<Uint8Array, Uint8Array>;
  problem(): unknown;
  header(): KnownHeader | null;
} {
  const check = new HeaderCheck(file, announced, budget);
  let problem: unknown = null;
  let known: KnownHeader | null = null;
  let loaded = 0;
  const checked = (step: () => void) => {
    try {
      step();
    } catch (e) {
      problem = e;
      throw e;
    }
  };
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      // Once the header is checked, only its own bytes are kept.
      checked(() => {
        if (known || !check.feed(chunk)) return;
        known = { header: check.header!, prefix: check.prefix().slice() };
        check.head = [];
      });
      loaded += chunk.byteLength;
      onProgress(loaded, check.layout?.fileBytes ?? announced);
      controller.enqueue(chunk);
    },
    flush: () =>
      checked(() => {
        const { fileBytes } = check.end();
        if (loaded < fileBytes) throw truncated(file, loaded, fileBytes);
      }),
  });
  return { stream, problem: () => problem, header: () => known };
}

function sameBytes(a: Uint8Array, prefix: Uint8Array): boolean {
  if (a.byteLength < prefix.byteLength) return false;
  for (let i = 0; i < prefix.byteLength; i++) if (a[i] !== prefix[i]) return false;
  return true;
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
