/**
 * Byte-level BPE as GPT-2 does it, trained by the project on its own corpora.
 *
 * Text is cut into words by GPT-2's pre-tokenizer, each word into UTF-8 bytes (the 256 base
 * tokens, so any string encodes), and learned merges join adjacent tokens inside a word, lowest
 * rank first. Tokens are stored as strings in GPT-2's byte-to-character form ('Ġ' is a space).
 */

import { BYTE_TO_CHAR, byteCharsToBytes, pretokenize } from './byteLevel';
import { checkTokenId, isJsonObject, specialTokensField, stringArrayField } from './json';
import { Heap } from './heap';
import { readableBytes } from './readable';
import { eosIdOf, TokenizerError, type Tokenizer } from './types';

/** Our `lab-tokenizer.json` for byte-level BPE; see docs/tokenizer.md. */
export interface BpeJson {
  type: 'byte-bpe';
  /** id -> token in byte-to-character form; special tokens hold their own text. */
  vocab: string[];
  /** Merge rules in rank order (rank 0 is applied first). */
  merges: [string, string][];
  special_tokens: Record<string, number>;
  pretokenizer: 'gpt2';
}

export interface BpeTrainOptions {
  /** Total vocabulary: 256 bytes + merged tokens + special tokens. */
  vocabSize: number;
  /** Appended after the merged tokens, in this order (e.g. `<|endoftext|>`). */
  specialTokens?: string[];
  /** Called after every merge. */
  onProgress?: (progress: { merges: number; vocabSize: number }) => void;
}

const FILE = 'lab-tokenizer.json (byte-bpe)';

/** A pair of token ids as one Map key; ids stay below 2^21 so keys stay exact doubles. */
const PAIR_BASE = 2 ** 21;
const pairKey = (left: number, right: number): number => left * PAIR_BASE + right;

const utf8 = new TextEncoder();
/** Decoding is lenient: ids that cut a character in half give U+FFFD, as in GPT-2. */
const lenientUtf8 = new TextDecoder();

/** Encoded words are cached; the cache is dropped whole when full, which keeps memory bounded. */
const WORD_CACHE_LIMIT = 50_000;

/** Joins every non-overlapping `left, right` (scanning left to right) into `merged`. */
function mergePair(symbols: number[], left: number, right: number, merged: number): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < symbols.length) {
    if (symbols[i] === left && symbols[i + 1] === right) {
      out.push(merged);
      i += 2;
    } else {
      out.push(symbols[i]);
      i += 1;
    }
  }
  return out;
}

export class BpeTokenizer implements Tokenizer {
  readonly kind = 'bpe';
  readonly vocabSize: number;
  readonly eosId: number | null;
  readonly specialTokens: Readonly<Record<string, number>>;
  private readonly json: BpeJson;
  private readonly tokenBytes: Uint8Array[];
  private readonly specialIds: ReadonlySet<number>;
  /** byte -> id of its single-byte token. */
  private readonly byteIds = new Int32Array(256);
  /** pair key -> rank, and per rank the pair and the token it makes. */
  private readonly mergeRanks = new Map<number, number>();
  private readonly mergeLeft: Int32Array;
  private readonly mergeRight: Int32Array;
  private readonly mergeResult: Int32Array;
  private readonly wordCache = new Map<string, number[]>();

  /** Validates a parsed `lab-tokenizer.json`; throws `TokenizerError` naming what is wrong. */
  static fromJson(json: unknown): BpeTokenizer {
    return new BpeTokenizer(parseBpeJson(json));
  }

  private constructor(json: BpeJson) {
    const { vocab, merges, special_tokens: specialTokens } = json;
    if (vocab.length > PAIR_BASE) {
      throw new TokenizerError(`${FILE}: ${vocab.length} tokens, more than ${PAIR_BASE}`);
    }
    for (const [name, id] of Object.entries(specialTokens)) {
      if (vocab[id] !== name) {
        throw new TokenizerError(
          `${FILE}: special token "${name}" has id ${id} but vocab[${id}] is "${vocab[id]}"`,
        );
      }
    }
    const specialIds = new Set(Object.values(specialTokens));

    const tokenIds = new Map<string, number>();
    this.tokenBytes = vocab.map((token, id) => {
      if (specialIds.has(id)) return utf8.encode(token);
      const bytes = byteCharsToBytes(token);
      if (bytes === null) {
        throw new TokenizerError(
          `${FILE}: vocab[${id}] "${token}" has a character that is not one of the 256 byte characters`,
        );
      }
      const previous = tokenIds.get(token);
      if (previous !== undefined) {
        throw new TokenizerError(`${FILE}: vocab[${id}] repeats vocab[${previous}] "${token}"`);
      }
      tokenIds.set(token, id);
      return bytes;
    });
    BYTE_TO_CHAR.forEach((char, byte) => {
      const id = tokenIds.get(char);
      if (id === undefined) {
        throw new TokenizerError(
          `${FILE}: the vocabulary lacks the single-byte token "${char}" (byte ${byte}), so some text could not be encoded`,
        );
      }
      this.byteIds[byte] = id;
    });

    this.mergeLeft = new Int32Array(merges.length);
    this.mergeRight = new Int32Array(merges.length);
    this.mergeResult = new Int32Array(merges.length);
    const idOf = (token: string, rank: number): number => {
      const id = tokenIds.get(token);
      if (id === undefined) {
        throw new TokenizerError(`${FILE}: merges[${rank}] uses "${token}", not in the vocabulary`);
      }
      return id;
    };
    merges.forEach(([left, right], rank) => {
      const key = pairKey(idOf(left, rank), idOf(right, rank));
      if (this.mergeRanks.has(key)) {
        throw new TokenizerError(`${FILE}: merges[${rank}] repeats "${left}" + "${right}"`);
      }
      this.mergeRanks.set(key, rank);
      this.mergeLeft[rank] = idOf(left, rank);
      this.mergeRight[rank] = idOf(right, rank);
      this.mergeResult[rank] = idOf(left + right, rank);
    });

    this.json = json;
    this.vocabSize = vocab.length;
    this.specialTokens = specialTokens;
    this.specialIds = specialIds;
    this.eosId = eosIdOf(specialTokens);
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const word of pretokenize(text)) {
      for (const id of this.encodeWord(word)) ids.push(id);
    }
    return ids;
  }

  decode(ids: number[]): string {
    const parts = ids.map((id) => {
      checkTokenId(id, this.vocabSize);
      return this.tokenBytes[id];
    });
    const bytes = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
    let offset = 0;
    for (const part of parts) {
      bytes.set(part, offset);
      offset += part.length;
    }
    return lenientUtf8.decode(bytes);
  }

  piece(id: number): string {
    checkTokenId(id, this.vocabSize);
    return this.specialIds.has(id) ? this.json.vocab[id] : readableBytes(this.tokenBytes[id]);
  }

  /**
   * How `word` splits: first into bytes, then after each merge rule that applies. Text of several
   * pre-tokens is explained as a whole (merges never cross pre-token boundaries).
   */
  explain(word: string): string[][] {
    let chunks = pretokenize(word).map((chunk) => this.byteSymbols(chunk));
    const split = (): string[] => chunks.flatMap((symbols) => symbols.map((id) => this.piece(id)));
    const steps = [split()];
    for (;;) {
      const rank = chunks.reduce(
        (best, symbols) => Math.min(best, this.lowestMergeRank(symbols)),
        Infinity,
      );
      if (rank === Infinity) return steps;
      chunks = chunks.map((symbols) => this.applyMerge(symbols, rank));
      steps.push(split());
    }
  }

  toJSON(): BpeJson {
    const { vocab, merges, special_tokens: specialTokens } = this.json;
    return {
      type: 'byte-bpe',
      vocab: [...vocab],
      merges: merges.map(([left, right]) => [left, right]),
      special_tokens: { ...specialTokens },
      pretokenizer: 'gpt2',
    };
  }

  private encodeWord(word: string): number[] {
    const cached = this.wordCache.get(word);
    if (cached !== undefined) return cached;
    let symbols = this.byteSymbols(word);
    for (;;) {
      const rank = this.lowestMergeRank(symbols);
      if (rank === Infinity) break;
      symbols = this.applyMerge(symbols, rank);
    }
    if (this.wordCache.size >= WORD_CACHE_LIMIT) this.wordCache.clear();
    this.wordCache.set(word, symbols);
    return symbols;
  }

  private byteSymbols(word: string): number[] {
    return Array.from(utf8.encode(word), (byte) => this.byteIds[byte]);
  }

  /** Rank of the best merge among adjacent pairs, Infinity when none applies. */
  private lowestMergeRank(symbols: number[]): number {
    let best = Infinity;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const rank = this.mergeRanks.get(pairKey(symbols[i], symbols[i + 1]));
      if (rank !== undefined && rank < best) best = rank;
    }
    return best;
  }

  private applyMerge(symbols: number[], rank: number): number[] {
    return mergePair(symbols, this.mergeLeft[rank], this.mergeRight[rank], this.mergeResult[rank]);
  }
}

function parseBpeJson(json: unknown): BpeJson {
  if (!isJsonObject(json)) throw new TokenizerError(`${FILE}: expected a JSON object`);
  if (json.type !== 'byte-bpe') {
    throw new TokenizerError(`${FILE}: "type" is ${JSON.stringify(json.type)}, not "byte-bpe"`);
  }
  if (json.pretokenizer !== 'gpt2') {
    throw new TokenizerError(
      `${FILE}: "pretokenizer" is ${JSON.stringify(json.pretokenizer)}; only "gpt2" is supported`,
    );
  }
  const vocab = stringArrayField(json, 'vocab', FILE);
  if (!Array.isArray(json.merges)) throw new TokenizerError(`${FILE}: "merges" must be an array`);
  const merges = json.merges.map((merge: unknown, rank): [string, string] => {
    if (
      !Array.isArray(merge) ||
      merge.length !== 2 ||
      !merge.every((token) => typeof token === 'string' && token.length > 0)
    ) {
      throw new TokenizerError(`${FILE}: merges[${rank}] must be a pair of non-empty strings`);
    }
    return [merge[0], merge[1]];
  });
  const specialTokens = specialTokensField(json, () => vocab.length, FILE);
  return { type: 'byte-bpe', vocab, merges, special_tokens: specialTokens, pretokenizer: 'gpt2' };
}

/**
 * Training's agenda of (pair, count), most frequent first. Counts change all the time, so entries
 * are not updated in place: a new entry is pushed and stale ones are skipped when popped.
 * Ties go to the pair whose tokens come first in byte order (left token, then right token), so
 * training is deterministic and independent of the order words were seen. `sortKeys[id]` is the
 * token's bytes as a Latin-1 string, so `<` compares bytes.
 */
function pairAgenda(sortKeys: string[]): Heap<{ key: number; count: number }> {
  return new Heap((a, b) => {
    if (a.count !== b.count) return a.count > b.count;
    const [leftA, rightA] = splitKey(a.key);
    const [leftB, rightB] = splitKey(b.key);
    if (leftA !== leftB) return sortKeys[leftA] < sortKeys[leftB];
    return sortKeys[rightA] < sortKeys[rightB];
  });
}

function splitKey(key: number): [number, number] {
  const left = Math.floor(key / PAIR_BASE);
  return [left, key - left * PAIR_BASE];
}

/**
 * Learns merges from `text` until the vocabulary (bytes + merged tokens + special tokens) reaches
 * `vocabSize`, or no adjacent pair is left. Each step merges the most frequent adjacent pair
 * within words, counted over word frequencies; counts are updated only for the words that
 * contain the merged pair, not recounted.
 */
export function trainBpe(text: string, opts: BpeTrainOptions): BpeTokenizer {
  const specialTokens = opts.specialTokens ?? [];
  const { vocabSize, onProgress } = opts;
  if (new Set(specialTokens).size !== specialTokens.length || specialTokens.includes('')) {
    throw new TokenizerError('trainBpe: special tokens must be distinct and non-empty');
  }
  const minimum = 256 + specialTokens.length;
  if (!Number.isInteger(vocabSize) || vocabSize < minimum || vocabSize > PAIR_BASE) {
    throw new TokenizerError(
      `trainBpe: vocabSize must be an integer in [${minimum}, ${PAIR_BASE}] (256 bytes + ${specialTokens.length} special tokens at least), got ${vocabSize}`,
    );
  }

  const wordFrequencies = new Map<string, number>();
  for (const word of pretokenize(text)) {
    wordFrequencies.set(word, (wordFrequencies.get(word) ?? 0) + 1);
  }
  // Base token id = byte value.
  const words: number[][] = [];
  const frequencies: number[] = [];
  for (const [word, frequency] of wordFrequencies) {
    words.push(Array.from(utf8.encode(word)));
    frequencies.push(frequency);
  }

  const vocab = [...BYTE_TO_CHAR];
  const tokenIds = new Map(vocab.map((token, id) => [token, id]));
  const sortKeys = vocab.map((_, byte) => String.fromCharCode(byte));
  const merges: [string, string][] = [];

  const pairCounts = new Map<number, number>();
  // Words that contain a pair; may also list words that no longer do (they are skipped).
  const pairWords = new Map<number, Set<number>>();
  const addPairWord = (key: number, word: number): void => {
    const set = pairWords.get(key);
    if (set === undefined) pairWords.set(key, new Set([word]));
    else set.add(word);
  };
  words.forEach((symbols, word) => {
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = pairKey(symbols[i], symbols[i + 1]);
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + frequencies[word]);
      addPairWord(key, word);
    }
  });
  const heap = pairAgenda(sortKeys);
  for (const [key, count] of pairCounts) heap.push({ key, count });

  const targetTokens = vocabSize - specialTokens.length;
  while (vocab.length < targetTokens) {
    const top = heap.pop();
    if (top === undefined) break;
    if (pairCounts.get(top.key) !== top.count) continue;
    const [left, right] = splitKey(top.key);
    const token = vocab[left] + vocab[right];
    let merged = tokenIds.get(token);
    if (merged === undefined) {
      // Different merges can spell the same token ('a'+'bc', 'ab'+'c'): it keeps one id.
      merged = vocab.length;
      vocab.push(token);
      tokenIds.set(token, merged);
      sortKeys.push(sortKeys[left] + sortKeys[right]);
    }
    merges.push([vocab[left], vocab[right]]);

    const deltas = new Map<number, number>();
    const addDelta = (key: number, delta: number): void => {
      deltas.set(key, (deltas.get(key) ?? 0) + delta);
    };
    for (const word of pairWords.get(top.key) ?? []) {
      const before = words[word];
      const after = mergePair(before, left, right, merged);
      if (after.length === before.length) continue;
      const frequency = frequencies[word];
      for (let i = 0; i + 1 < before.length; i++) {
        addDelta(pairKey(before[i], before[i + 1]), -frequency);
      }
      for (let i = 0; i + 1 < after.length; i++) {
        const key = pairKey(after[i], after[i + 1]);
        addDelta(key, frequency);
        if (after[i] === merged || after[i + 1] === merged) addPairWord(key, word);
      }
      words[word] = after;
    }
    for (const [key, delta] of deltas) {
      if (delta === 0) continue;
      const count = (pairCounts.get(key) ?? 0) + delta;
      if (count > 0) {
        pairCounts.set(key, count);
        heap.push({ key, count });
      } else {
        pairCounts.delete(key);
        pairWords.delete(key);
      }
    }
    onProgress?.({ merges: merges.length, vocabSize: vocab.length + specialTokens.length });
  }

  const special: Record<string, number> = {};
  for (const name of specialTokens) {
    special[name] = vocab.length;
    vocab.push(name);
  }
  return BpeTokenizer.fromJson({
    type: 'byte-bpe',
    vocab,
    merges,
    special_tokens: special,
    pretokenizer: 'gpt2',
  } satisfies BpeJson);
}
