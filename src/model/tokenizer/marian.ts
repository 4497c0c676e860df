/**
 * The tokenizer of Marian translation checkpoints (`Helsinki-NLP/opus-mt-*`), as Hugging Face's
 * `MarianTokenizer` does it: text is split into pieces by `source.spm` (encoder side) or
 * `target.spm` (decoder side), the pieces are looked up in the shared `vocab.json` (a piece it
 * lacks becomes `<unk>`), and `</s>` is appended. Decoding goes back through `vocab.json`.
 */

import { found } from '../jsonValue';
import { checkTokenId } from './json';
import { readableText } from './readable';
import { SentencePieceProcessor } from './sentencepiece';
import { TokenizerError, type Tokenizer } from './types';

export interface MarianTokenizerOptions {
  /** Contents of `source.spm` and `target.spm`. */
  sourceSpm: Uint8Array;
  targetSpm: Uint8Array;
  /** Parsed `vocab.json`: piece -> id. */
  vocab: Record<string, number>;
  /** `config.json`'s `vocab_size`: every id must lie below it. */
  vocabSize?: number;
  /** `config.json`'s `eos_token_id`; by default the id of `</s>`. */
  eosId?: number;
  /** `config.json`'s `pad_token_id` (also the decoder start); by default the id of `<pad>`. */
  padId?: number;
  /** By default the id of `<unk>`. */
  unkId?: number;
}

const FILE = 'vocab.json (Marian)';
const SPACE_SYMBOL = /\u2581/g;

export class MarianTokenizer implements Tokenizer {
  readonly kind = 'marian';
  readonly appendsEos = true;
  readonly vocabSize: number;
  readonly eosId: number;
  readonly padId: number;
  readonly unkId: number;
  private readonly source: SentencePieceProcessor;
  private readonly target: SentencePieceProcessor;
  private readonly ids = new Map<string, number>();
  /** id -> piece; `vocab.json` may skip ids. A map, so that no table is as long as an id is big. */
  private readonly tokens = new Map<number, string>();
  private readonly specialIds: ReadonlySet<number>;

  constructor(options: MarianTokenizerOptions) {
    const { vocab } = options;
    if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) {
      throw new TokenizerError(`${FILE}: expected an object of piece -> id`);
    }
    const limit = options.vocabSize ?? Number.MAX_SAFE_INTEGER;
    const range = options.vocabSize === undefined ? '≥ 0' : `in [0, ${limit}) (vocab_size)`;
    let maxId = -1;
    for (const [piece, id] of Object.entries(vocab as Record<string, unknown>)) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id >= limit) {
        throw new TokenizerError(
          `${FILE}: the id of "${piece}" must be an integer ${range}, but ${found(id)}`,
        );
      }
      const other = this.tokens.get(id);
      if (other !== undefined) {
        throw new TokenizerError(`${FILE}: "${other}" and "${piece}" share id ${id}`);
      }
      this.ids.set(piece, id);
      this.tokens.set(id, piece);
      maxId = Math.max(maxId, id);
    }
    if (maxId === -1) throw new TokenizerError(`${FILE}: the vocabulary is empty`);
    this.vocabSize = maxId + 1;
    this.eosId = this.specialId(options.eosId, '</s>', 'eosId');
    this.padId = this.specialId(options.padId, '<pad>', 'padId');
    this.unkId = this.specialId(options.unkId, '<unk>', 'unkId');
    this.specialIds = new Set([this.eosId, this.padId, this.unkId]);
    this.source = SentencePieceProcessor.fromBytes(options.sourceSpm, 'source.spm');
    this.target = SentencePieceProcessor.fromBytes(options.targetSpm, 'target.spm');
  }

  private specialId(given: number | undefined, name: string, option: string): number {
    const id = given ?? this.ids.get(name);
    if (id === undefined) {
      throw new TokenizerError(`${FILE}: no "${name}" token; pass ${option} from config.json`);
    }
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new TokenizerError(`${option} ${id} is outside the vocabulary [0, ${this.vocabSize})`);
    }
    return id;
  }

  /** Encoder input: source-side pieces, then `</s>`. */
  encode(text: string): number[] {
    return this.encodeWith(this.source, text);
  }

  /**
   * Decoder side (Hugging Face's `text_target`): target-side pieces, then `</s>`. The decoder's
   * input is `[padId, ...ids]` without the last id.
   */
  encodeTarget(text: string): number[] {
    return this.encodeWith(this.target, text);
  }

  /**
   * A leading language code such as `>>fra<<` (multilingual models) is one token, as in
   * `MarianTokenizer`; special-token text such as `</s>` in the input is ordinary text.
   */
  private encodeWith(spm: SentencePieceProcessor, text: string): number[] {
    const ids: number[] = [];
    const codeEnd = text.startsWith('>>') ? text.indexOf('<<') : -1;
    if (codeEnd !== -1) {
      ids.push(this.ids.get(text.slice(0, codeEnd + 2)) ?? this.unkId);
      text = text.slice(codeEnd + 2);
    }
    for (const piece of spm.encode(text).pieces) ids.push(this.ids.get(piece) ?? this.unkId);
    ids.push(this.eosId);
    return ids;
  }

  /** The source side's pieces of `text` and their scores in `source.spm`. */
  scoredPieces(text: string): { piece: string; score: number }[] {
    const { pieces, ids } = this.source.encode(text);
    return pieces.map((piece, i) => ({ piece, score: this.source.pieces[ids[i]].score }));
  }

  /** Text of the ids, special tokens (`</s>`, `<pad>`, `<unk>`) left out, `▁` as spaces, trimmed. */
  decode(ids: number[]): string {
    const pieces: string[] = [];
    for (const id of ids) {
      const token = this.token(id);
      if (!this.specialIds.has(id)) pieces.push(token);
    }
    return pieces.join('').replace(SPACE_SYMBOL, ' ').trim();
  }

  /** `▁the` -> ` the`; special tokens as their names. */
  piece(id: number): string {
    const token = this.token(id);
    return this.specialIds.has(id) ? token : readableText(token.replace(SPACE_SYMBOL, ' '));
  }

  private token(id: number): string {
    checkTokenId(id, this.vocabSize);
    const token = this.tokens.get(id);
    if (token === undefined) throw new TokenizerError(`token id ${id} is not in ${FILE}`, 'bad-id');
    return token;
  }
}

export function marianTokenizer(options: MarianTokenizerOptions): MarianTokenizer {
  return new MarianTokenizer(options);
}
