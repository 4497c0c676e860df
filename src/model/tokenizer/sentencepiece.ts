/**
 * SentencePiece models, the `source.spm` / `target.spm` files of Marian checkpoints: a reader for
 * their protobuf `ModelProto` and a port of the C++ library's encoder, so that text gets the ids
 * the models were trained on.
 *
 * Encoding is done as SentencePiece does it, on UTF-8 bytes: normalise with the model's own
 * precompiled character map (the `nmt_nfkc` rules are stored in the file, so nothing is
 * approximated), collapse whitespace and mark it with `▁`, then split by the unigram model's
 * Viterbi search (or by BPE merges), merge runs of unknown characters into one `<unk>` piece or
 * spell them as `<0xXX>` byte pieces when the model has them.
 */

import { Heap } from './heap';
import {
  parseSentencePieceModel,
  type SentencePiece,
  type SentencePieceEncoding,
  type SentencePieceModelProto,
  type SentencePieceModelType,
  type SentencePieceNormalizerSpec,
} from './sentencepieceModel';
import { TokenizerError } from './types';

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder();

/** Bytes of the UTF-8 character a lead byte starts, by its high nibble, as SentencePiece counts. */
function oneCharLength(lead: number): number {
  return [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4][lead >> 4];
}

function utf8Length(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
}

function startsWithBytes(bytes: Uint8Array, pos: number, prefix: Uint8Array): boolean {
  if (pos + prefix.length > bytes.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[pos + i] !== prefix[i]) return false;
  return true;
}

/**
 * The precompiled normalisation rules: `<trie size: uint32 LE><darts-clone double array><NUL-
 * terminated replacement strings>`. The trie maps a UTF-8 source string to the offset of its
 * replacement.
 */
class PrecompiledCharsmap {
  private readonly units: Uint32Array;
  private readonly replacements: Uint8Array;
  private readonly cache = new Map<number, Uint8Array>();

  constructor(
    blob: Uint8Array,
    private readonly file: string,
  ) {
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieSize = blob.length > 4 ? view.getUint32(0, true) : 0;
    if (blob.length <= 4 || trieSize >= blob.length - 4 || trieSize % 4 !== 0 || trieSize === 0) {
      this.fail('its header does not describe a trie inside it');
    }
    this.units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + 4 * i, true);
    this.replacements = blob.subarray(4 + trieSize);
  }

  private fail(what: string): never {
    throw new TokenizerError(
      `${this.file}: the normalisation rules (precompiled_charsmap) are broken: ${what}`,
    );
  }

  private unit(index: number): number {
    if (index >= this.units.length) this.fail(`the trie points outside itself (unit ${index})`);
    return this.units[index];
  }

  /** darts-clone's commonPrefixSearch keeping the longest match: [bytes matched, replacement]. */
  longestMatch(bytes: Uint8Array, pos: number): [number, Uint8Array] | null {
    const offset = (unit: number) => (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
    let node = offset(this.unit(0));
    let longest = 0;
    let value = -1;
    for (let i = pos; i < bytes.length; i++) {
      node ^= bytes[i];
      const unit = this.unit(node);
      // label(): the low byte, plus the top bit that marks a leaf so that leaves never match.
      if ((unit & 0x800000ff) >>> 0 !== bytes[i]) break;
      node ^= offset(unit);
      if ((unit >>> 8) & 1) {
        longest = i - pos + 1;
        value = this.unit(node) & 0x7fffffff;
      }
    }
    return longest === 0 ? null : [longest, this.replacement(value)];
  }

  private replacement(value: number): Uint8Array {
    let cached = this.cache.get(value);
    if (cached === undefined) {
      if (value >= this.replacements.length)
        this.fail(`replacement offset ${value} is outside the table`);
      let end = this.replacements.indexOf(0, value);
      if (end === -1) end = this.replacements.length;
      cached = this.replacements.subarray(value, end);
      this.cache.set(value, cached);
    }
    return cached;
  }
}

const SPACE = 0x20;
const SPACE_SYMBOL = utf8.encode('\u2581');
const REPLACEMENT_CHARACTER = utf8.encode('\ufffd');
/** SentencePiece scores an unknown character this much below the least likely piece. */
const UNKNOWN_PENALTY = 10;
/** C++ FLT_MAX and FLT_MIN, where SentencePiece starts its search for the lowest and highest score. */
const FLOAT32_MAX = 3.4028234663852886e38;
const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

/** An encoded piece before unknowns are merged: its normalised text and id. */
type Segment = [piece: string, id: number];

export class SentencePieceProcessor {
  readonly pieces: readonly SentencePiece[];
  readonly modelType: SentencePieceModelType;
  readonly unkId: number;
  private readonly spec: SentencePieceNormalizerSpec;
  private readonly treatWhitespaceAsSuffix: boolean;
  private readonly byteFallback: boolean;
  private readonly charsmap: PrecompiledCharsmap | null;
  /** Pieces that text can produce: normal, user-defined and unused ones. */
  private readonly pieceIds = new Map<string, number>();
  /** Control, unknown and byte pieces: reachable only by id. */
  private readonly reservedIds = new Map<string, number>();
  /** User-defined symbols (and their UTF-8), matched before normalisation and never split. */
  private readonly userDefined: string[] = [];
  private readonly userDefinedBytes: Uint8Array[] = [];
  private readonly maxPieceLength: number;
  private readonly minScore: number;
  private readonly maxScore: number;

  static fromBytes(bytes: Uint8Array, file = 'SentencePiece model'): SentencePieceProcessor {
    return new SentencePieceProcessor(parseSentencePieceModel(bytes, file), file);
  }

  /** Checks the model as SentencePiece does when loading it. */
  constructor(model: SentencePieceModelProto, file = 'SentencePiece model') {
    this.pieces = model.pieces;
    this.modelType = model.modelType;
    this.spec = model.normalizer;
    this.treatWhitespaceAsSuffix = model.treatWhitespaceAsSuffix;
    this.byteFallback = model.byteFallback;
    const charsmap = model.normalizer.precompiledCharsmap;
    this.charsmap = charsmap.length > 0 ? new PrecompiledCharsmap(charsmap, file) : null;
    let unkId = -1;
    let maxPieceLength = 1;
    let minScore = FLOAT32_MAX;
    let maxScore = FLOAT32_MIN_NORMAL;
    const bytePieces = new Set<string>();
    model.pieces.forEach(({ piece, score, type }, id) => {
      if (piece.length === 0) throw new TokenizerError(`${file}: pieces[${id}] is empty`);
      const reachable = type === 'normal' || type === 'user-defined' || type === 'unused';
      const ids = reachable ? this.pieceIds : this.reservedIds;
      if (ids.has(piece)) {
        throw new TokenizerError(`${file}: the piece "${piece}" appears twice`);
      }
      ids.set(piece, id);
      if (reachable) maxPieceLength = Math.max(maxPieceLength, [...piece].length);
      if (type === 'normal') {
        minScore = Math.min(minScore, score);
        maxScore = Math.max(maxScore, score);
      } else if (type === 'user-defined') {
        this.userDefined.push(piece);
        this.userDefinedBytes.push(utf8.encode(piece));
      } else if (type === 'unknown') {
        if (unkId !== -1) throw new TokenizerError(`${file}: more than one unknown piece`);
        unkId = id;
      } else if (type === 'byte') {
        if (!model.byteFallback) {
          throw new TokenizerError(`${file}: byte piece ${piece} in a model without byte_fallback`);
        }
        if (!/^<0x[0-9A-F]{2}>$/.test(piece)) {
          throw new TokenizerError(`${file}: byte piece "${piece}" is not of the form <0xFF>`);
        }
        bytePieces.add(piece);
      }
    });
    if (unkId === -1) throw new TokenizerError(`${file}: no unknown piece (<unk>)`);
    if (model.byteFallback && bytePieces.size !== 256) {
      throw new TokenizerError(`${file}: byte_fallback is on but there are not 256 byte pieces`);
    }
    this.unkId = unkId;
    this.maxPieceLength = maxPieceLength;
    this.minScore = minScore;
    this.maxScore = maxScore;
  }

  /** Id of a piece; `unkId` for a piece the model does not have. */
  pieceToId(piece: string): number {
    return this.reservedIds.get(piece) ?? this.pieceIds.get(piece) ?? this.unkId;
  }

  /**
   * The text the model splits: normalised by the model's rules, whitespace collapsed and trimmed
   * (when `remove_extra_whitespaces`), spaces written `▁`, with a leading `▁` (dummy prefix).
   */
  normalize(text: string): string {
    const input = utf8.encode(text);
    const out: number[] = [];
    const spaceSymbol = this.spec.escapeWhitespaces ? SPACE_SYMBOL : [SPACE];
    const removeExtra = this.spec.removeExtraWhitespaces;
    let pos = 0;
    if (removeExtra) {
      while (pos < input.length) {
        const [replacement, consumed] = this.normalizePrefix(input, pos);
        if (replacement.length !== 1 || replacement[0] !== SPACE) break;
        pos += consumed;
      }
    }
    if (pos >= input.length) return '';
    if (!this.treatWhitespaceAsSuffix && this.spec.addDummyPrefix) out.push(...spaceSymbol);
    let isPrevSpace = removeExtra;
    while (pos < input.length) {
      const [replacement, consumed] = this.normalizePrefix(input, pos);
      let start = 0;
      while (isPrevSpace && start < replacement.length && replacement[start] === SPACE) start++;
      if (start < replacement.length) {
        for (let i = start; i < replacement.length; i++) {
          if (replacement[i] === SPACE) out.push(...spaceSymbol);
          else out.push(replacement[i]);
        }
        isPrevSpace = replacement[replacement.length - 1] === SPACE;
      }
      pos += consumed;
      if (!removeExtra) isPrevSpace = false;
    }
    if (removeExtra) {
      while (
        out.length >= spaceSymbol.length &&
        spaceSymbol.every((b, i) => out[out.length - spaceSymbol.length + i] === b)
      ) {
        out.length -= spaceSymbol.length;
      }
    }
    if (this.treatWhitespaceAsSuffix && this.spec.addDummyPrefix) out.push(...spaceSymbol);
    return lenientUtf8.decode(Uint8Array.from(out));
  }

  /** Replacement for the longest rule at `pos` (user-defined symbols first), and bytes used. */
  private normalizePrefix(input: Uint8Array, pos: number): [Uint8Array, number] {
    let longestSymbol = 0;
    for (const symbol of this.userDefinedBytes) {
      if (symbol.length > longestSymbol && startsWithBytes(input, pos, symbol)) {
        longestSymbol = symbol.length;
      }
    }
    if (longestSymbol > 0) return [input.subarray(pos, pos + longestSymbol), longestSymbol];
    const rule = this.charsmap?.longestMatch(input, pos);
    if (rule) return [rule[1], rule[0]];
    const length = Math.min(oneCharLength(input[pos]), input.length - pos);
    try {
      strictUtf8.decode(input.subarray(pos, pos + length));
      return [input.subarray(pos, pos + length), length];
    } catch {
      // Malformed UTF-8 becomes U+FFFD, one byte at a time, as in SentencePiece.
      return [REPLACEMENT_CHARACTER, 1];
    }
  }

  encode(text: string): SentencePieceEncoding {
    const normalized = this.normalize(text);
    const segments =
      this.modelType === 'unigram' ? this.viterbi(normalized) : this.bytePairMerges(normalized);
    const pieces: string[] = [];
    const ids: number[] = [];
    let isPrevUnknown = false;
    for (const [piece, id] of segments) {
      const isUnknown = id === this.unkId;
      if (isUnknown && this.byteFallback) {
        for (const byte of utf8.encode(piece)) {
          const bytePiece = `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
          pieces.push(bytePiece);
          ids.push(this.pieceToId(bytePiece));
        }
      } else if (isUnknown && isPrevUnknown) {
        // A run of unknown characters is one <unk>, as in SentencePiece.
        pieces[pieces.length - 1] += piece;
      } else {
        pieces.push(piece);
        ids.push(id);
      }
      isPrevUnknown = isUnknown;
    }
    return { pieces, ids };
  }

  /**
   * Unigram segmentation: the most probable split, by SentencePiece's optimised Viterbi search.
   * Its arithmetic is kept (best scores stored as float32, candidates summed in double, the
   * first of equal candidates kept) so that ties break the same way.
   */
  private viterbi(normalized: string): Segment[] {
    const chars = Array.from(normalized);
    const n = chars.length;
    const bestScore = new Float64Array(n + 1);
    const bestStart = new Int32Array(n + 1).fill(-1);
    const bestId = new Int32Array(n + 1);
    const unknownScore = Math.fround(this.minScore - UNKNOWN_PENALTY);
    for (let start = 0; start < n; start++) {
      const scoreHere = bestScore[start];
      const end = Math.min(n, start + this.maxPieceLength);
      let piece = '';
      let pieceBytes = 0;
      let hasSingleChar = false;
      for (let stop = start + 1; stop <= end; stop++) {
        const char = chars[stop - 1];
        piece += char;
        pieceBytes += utf8Length(char.codePointAt(0) as number);
        const id = this.pieceIds.get(piece);
        if (id === undefined) continue;
        const { type, score } = this.pieces[id];
        if (type === 'unused') continue;
        // User-defined symbols get a bonus so that they are always chosen.
        const pieceScore =
          type === 'user-defined' ? Math.fround(pieceBytes * this.maxScore) - 0.1 : score;
        const candidate = pieceScore + scoreHere;
        if (bestStart[stop] === -1 || candidate > bestScore[stop]) {
          bestScore[stop] = Math.fround(candidate);
          bestStart[stop] = start;
          bestId[stop] = id;
        }
        if (stop === start + 1) hasSingleChar = true;
      }
      if (!hasSingleChar) {
        const candidate = Math.fround(unknownScore + scoreHere);
        if (bestStart[start + 1] === -1 || candidate > bestScore[start + 1]) {
          bestScore[start + 1] = candidate;
          bestStart[start + 1] = start;
          bestId[start + 1] = this.unkId;
        }
      }
    }
    const segments: Segment[] = [];
    for (let stop = n; stop > 0; stop = bestStart[stop]) {
      segments.push([chars.slice(bestStart[stop], stop).join(''), bestId[stop]]);
    }
    return segments.reverse();
  }

  /**
   * BPE segmentation as SentencePiece does it: start from characters (user-defined symbols stay
   * whole), repeatedly merge the adjacent pair whose merged piece has the highest score (the
   * leftmost among equals), then split merged pieces marked unused back into their parts.
   */
  private bytePairMerges(normalized: string): Segment[] {
    const symbols: string[] = [];
    const frozen: boolean[] = [];
    for (let pos = 0; pos < normalized.length;) {
      let symbol = '';
      for (const candidate of this.userDefined) {
        if (candidate.length > symbol.length && normalized.startsWith(candidate, pos)) {
          symbol = candidate;
        }
      }
      frozen.push(symbol !== '');
      if (symbol === '') symbol = String.fromCodePoint(normalized.codePointAt(pos) as number);
      symbols.push(symbol);
      pos += symbol.length;
    }
    const prev = symbols.map((_, i) => i - 1);
    const next = symbols.map((_, i) => (i + 1 < symbols.length ? i + 1 : -1));
    // Highest score first, then the leftmost.
    const agenda = new Heap<SymbolPair>(
      (a, b) => a.score > b.score || (a.score === b.score && a.left < b.left),
    );
    const splits = new Map<string, [string, string]>();
    const addPair = (left: number, right: number) => {
      if (left === -1 || right === -1 || frozen[left] || frozen[right]) return;
      const merged = symbols[left] + symbols[right];
      const id = this.pieceIds.get(merged);
      if (id === undefined) return;
      agenda.push({ left, right, score: this.pieces[id].score, length: merged.length });
      if (this.pieces[id].type === 'unused') splits.set(merged, [symbols[left], symbols[right]]);
    };
    for (let i = 1; i < symbols.length; i++) addPair(i - 1, i);
    for (let top = agenda.pop(); top !== undefined; top = agenda.pop()) {
      const { left, right } = top;
      // Entries go stale when either side has merged since: their lengths no longer add up.
      if (symbols[left] === '' || symbols[right] === '') continue;
      if (symbols[left].length + symbols[right].length !== top.length) continue;
      symbols[left] += symbols[right];
      symbols[right] = '';
      next[left] = next[right];
      if (next[right] !== -1) prev[next[right]] = left;
      addPair(prev[left], left);
      addPair(left, next[left]);
    }
    const segments: Segment[] = [];
    const resegment = (piece: string) => {
      const id = this.pieceToId(piece);
      const parts = this.pieces[id].type === 'unused' ? splits.get(piece) : undefined;
      if (parts === undefined) {
        segments.push([piece, id]);
      } else {
        resegment(parts[0]);
        resegment(parts[1]);
      }
    };
    for (let i = symbols.length > 0 ? 0 : -1; i !== -1; i = next[i]) resegment(symbols[i]);
    return segments;
  }
}

interface SymbolPair {
  left: number;
  right: number;
  score: number;
  /** Length of the merged piece when the pair was found, to recognise stale entries. */
  length: number;
}
