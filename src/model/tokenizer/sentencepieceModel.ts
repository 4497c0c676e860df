/**
 * The SentencePiece model file (`.spm`, a protobuf `ModelProto`): its pieces with scores and
 * types, the trainer's and normaliser's specs, read field by field with the checks a file from an
 * unknown source needs. The encoder that uses it is sentencepiece.ts.
 */
import { TokenizerError } from './types';

export type SentencePieceType =
  'normal' | 'unknown' | 'control' | 'user-defined' | 'unused' | 'byte';
export type SentencePieceModelType = 'unigram' | 'bpe';

export interface SentencePiece {
  piece: string;
  /** Log probability (unigram) or minus the merge rank (BPE); a float32 in the file. */
  score: number;
  type: SentencePieceType;
}

export interface SentencePieceNormalizerSpec {
  /** Name of the rules the trainer compiled (`nmt_nfkc`, `identity`, …); informational only. */
  name: string;
  /** The compiled rules: a double-array trie of source strings and their replacements. */
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

/** The parts of a `ModelProto` that encoding depends on. */
export interface SentencePieceModelProto {
  pieces: SentencePiece[];
  modelType: SentencePieceModelType;
  byteFallback: boolean;
  treatWhitespaceAsSuffix: boolean;
  normalizer: SentencePieceNormalizerSpec;
}

/** Result of encoding: the pieces (unknown ones hold the normalised text they cover) and ids. */
export interface SentencePieceEncoding {
  pieces: string[];
  ids: number[];
}

const PIECE_TYPES: Record<number, SentencePieceType> = {
  1: 'normal',
  2: 'unknown',
  3: 'control',
  4: 'user-defined',
  5: 'unused',
  6: 'byte',
};
const MODEL_TYPES: Record<number, string> = { 1: 'unigram', 2: 'bpe', 3: 'word', 4: 'char' };

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads one protobuf message: fields in order, each checked to lie inside the message. */
class ProtoReader {
  private pos: number;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly file: string,
    private readonly message: string,
  ) {
    this.pos = 0;
  }

  get done(): boolean {
    return this.pos >= this.bytes.length;
  }

  private fail(what: string): never {
    throw new TokenizerError(`${this.file}: corrupt ${this.message} at byte ${this.pos}: ${what}`);
  }

  /** The low 32 bits of a varint, unsigned (int32 fields such as -1 are sign-extended to 10 bytes). */
  varint(): number {
    let value = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.bytes.length) this.fail('the data ends inside a varint');
      const byte = this.bytes[this.pos++];
      if (i < 5) value = (value | ((byte & 0x7f) << (7 * i))) >>> 0;
      if (byte < 0x80) return value;
    }
    return this.fail('a varint is longer than 10 bytes');
  }

  /** Next field: its number and wire type. */
  tag(): { field: number; wire: number } {
    const key = this.varint();
    const field = key >>> 3;
    if (field === 0) this.fail('field number 0');
    return { field, wire: key & 7 };
  }

  lengthDelimited(): Uint8Array {
    const length = this.varint();
    if (length > this.bytes.length - this.pos)
      this.fail(`a field of ${length} bytes runs past the end`);
    const value = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return value;
  }

  string(): string {
    const bytes = this.lengthDelimited();
    try {
      return strictUtf8.decode(bytes);
    } catch {
      return this.fail('a string field is not valid UTF-8');
    }
  }

  float32(): number {
    if (this.bytes.length - this.pos < 4) this.fail('the data ends inside a fixed32 field');
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 4);
    this.pos += 4;
    return view.getFloat32(0, true);
  }

  /** Fails, naming the field, unless its wire type is the one its type needs. */
  expect(field: number, wire: number, expected: number): void {
    if (wire !== expected) this.fail(`field ${field} has wire type ${wire}, expected ${expected}`);
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        if (this.bytes.length - this.pos < 8) this.fail('the data ends inside a fixed64 field');
        this.pos += 8;
        return;
      case WIRE_LENGTH_DELIMITED:
        this.lengthDelimited();
        return;
      case WIRE_FIXED32:
        if (this.bytes.length - this.pos < 4) this.fail('the data ends inside a fixed32 field');
        this.pos += 4;
        return;
      default:
        this.fail(`unsupported wire type ${wire}`);
    }
  }
}

function parsePiece(bytes: Uint8Array, file: string, index: number): SentencePiece {
  const reader = new ProtoReader(bytes, file, `pieces[${index}]`);
  const piece: SentencePiece = { piece: '', score: 0, type: 'normal' };
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (field === 1) {
      reader.expect(field, wire, WIRE_LENGTH_DELIMITED);
      piece.piece = reader.string();
    } else if (field === 2) {
      reader.expect(field, wire, WIRE_FIXED32);
      piece.score = reader.float32();
    } else if (field === 3) {
      reader.expect(field, wire, WIRE_VARINT);
      const type = reader.varint();
      if (!(type in PIECE_TYPES)) {
        throw new TokenizerError(`${file}: pieces[${index}] has unknown type ${type}`);
      }
      piece.type = PIECE_TYPES[type];
    } else {
      reader.skip(wire);
    }
  }
  return piece;
}

/** Parses a SentencePiece `ModelProto`; throws `TokenizerError` for a file that is not one. */
export function parseSentencePieceModel(
  bytes: Uint8Array,
  file = 'SentencePiece model',
): SentencePieceModelProto {
  const model: SentencePieceModelProto = {
    pieces: [],
    modelType: 'unigram',
    byteFallback: false,
    treatWhitespaceAsSuffix: false,
    normalizer: {
      name: '',
      precompiledCharsmap: new Uint8Array(0),
      addDummyPrefix: true,
      removeExtraWhitespaces: true,
      escapeWhitespaces: true,
    },
  };
  const reader = new ProtoReader(bytes, file, 'ModelProto');
  const specs = new Set<number>();
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (field === 1) {
      reader.expect(field, wire, WIRE_LENGTH_DELIMITED);
      model.pieces.push(parsePiece(reader.lengthDelimited(), file, model.pieces.length));
    } else if (field === 2) {
      reader.expect(field, wire, WIRE_LENGTH_DELIMITED);
      parseTrainerSpec(reader.lengthDelimited(), file, model);
      specs.add(field);
    } else if (field === 3) {
      reader.expect(field, wire, WIRE_LENGTH_DELIMITED);
      parseNormalizerSpec(reader.lengthDelimited(), file, model.normalizer);
      specs.add(field);
    } else {
      reader.skip(wire);
    }
  }
  if (model.pieces.length === 0) {
    throw new TokenizerError(`${file}: no pieces; is this a SentencePiece model file?`);
  }
  // The trainer writes both specs after the pieces: a file cut at a piece's end would otherwise
  // parse, with fewer pieces and default normalisation rules.
  if (!specs.has(2) || !specs.has(3)) {
    throw new TokenizerError(
      `${file}: no ${specs.has(2) ? 'normalizer_spec' : 'trainer_spec'}; is the file truncated?`,
    );
  }
  return model;
}

function parseTrainerSpec(bytes: Uint8Array, file: string, model: SentencePieceModelProto): void {
  const reader = new ProtoReader(bytes, file, 'trainer_spec');
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (field === 3) {
      reader.expect(field, wire, WIRE_VARINT);
      const type = reader.varint();
      if (type !== 1 && type !== 2) {
        const name = MODEL_TYPES[type] ?? `number ${type}`;
        throw new TokenizerError(
          `${file}: model type ${name} is not supported (only unigram and BPE models are)`,
        );
      }
      model.modelType = type === 1 ? 'unigram' : 'bpe';
    } else if (field === 24) {
      reader.expect(field, wire, WIRE_VARINT);
      model.treatWhitespaceAsSuffix = reader.varint() !== 0;
    } else if (field === 35) {
      reader.expect(field, wire, WIRE_VARINT);
      model.byteFallback = reader.varint() !== 0;
    } else {
      reader.skip(wire);
    }
  }
}

function parseNormalizerSpec(
  bytes: Uint8Array,
  file: string,
  spec: SentencePieceNormalizerSpec,
): void {
  const reader = new ProtoReader(bytes, file, 'normalizer_spec');
  while (!reader.done) {
    const { field, wire } = reader.tag();
    if (field === 1) {
      reader.expect(field, wire, WIRE_LENGTH_DELIMITED);
      spec.name = reader.string();
    } else if (field === 2) {
      reader.expect(field, wire, WIRE_LENGTH_DELIMITED);
      spec.precompiledCharsmap = reader.lengthDelimited();
    } else if (field >= 3 && field <= 5) {
      reader.expect(field, wire, WIRE_VARINT);
      const value = reader.varint() !== 0;
      if (field === 3) spec.addDummyPrefix = value;
      else if (field === 4) spec.removeExtraWhitespaces = value;
      else spec.escapeWhitespaces = value;
    } else {
      reader.skip(wire);
    }
  }
}
