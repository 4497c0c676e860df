/**
 * The one interface every tokenizer of the lab implements, so the worker and the panels never
 * care which scheme produced the ids.
 */

export type TokenizerKind = 'bpe' | 'gpt2' | 'marian' | 'chars' | 'hf';

export interface Tokenizer {
  kind: TokenizerKind;
  /** Number of ids, special tokens included: every id is in `[0, vocabSize)`. */
  vocabSize: number;
  /**
   * Text to ids. Special tokens are never produced from the text itself; the only ones `encode`
   * adds are those its scheme puts around every text (`appendsEos`); callers add the others.
   * Exception: Hugging Face files (`hf`) recognize their added tokens (`[MASK]`) in the text.
   */
  encode(text: string): number[];
  /** True when `encode` ends every text with `eosId` (Marian, as Hugging Face's tokenizer does). */
  readonly appendsEos?: boolean;
  /**
   * An encoder–decoder's target side, where it is split differently from the source (Marian's
   * `target.spm`); same contract as `encode`. Absent: `encode` serves both sides.
   */
  encodeTarget?(text: string): number[];
  /** Ids to text; throws `TokenizerError` for an id outside the vocabulary. */
  decode(ids: number[]): string;
  /**
   * Readable text of one token: byte-level markers made readable ('Ġthe' -> ' the'), a newline
   * shown as '↵', bytes that are only part of a UTF-8 character shown as `<0xE2>`.
   */
  piece(id: number): string;
  /** End-of-sequence id, or null when the vocabulary has none. */
  eosId: number | null;
  /**
   * BPE only: the successive splits of a word, first into bytes, then after each merge rule that
   * applies (in rank order). The last split is the one `encode` gives.
   */
  explain?(word: string): string[][];
  /**
   * SentencePiece only: the pieces `encode` splits text into, each with its score in the model
   * (a unigram model's log-probability).
   */
  scoredPieces?(text: string): { piece: string; score: number }[];
}

/** Broken or unknown tokenizer files, ids outside the vocabulary, text a tokenizer cannot encode. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
  constructor(
    message: string,
    /** `bad-file`: a tokenizer file is broken; `bad-id`: an id names no token. */
    readonly code: 'bad-file' | 'bad-id' = 'bad-file',
  ) {
    super(message);
  }
}

/** Names that mean "end of sequence", in the order they are looked for. */
const EOS_NAMES = ['<|endoftext|>', '</s>'];

export function eosIdOf(specialTokens: Readonly<Record<string, number>>): number | null {
  for (const name of EOS_NAMES) {
    if (name in specialTokens) return specialTokens[name];
  }
  return null;
}

/** A file of a checkpoint folder or repository by name: its bytes, or null when there is none. */
export type ReadFile = (file: string) => Promise<Uint8Array | null>;

/** A tokenizer's JSON file, or a TokenizerError naming the file. */
export function parseJson(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new TokenizerError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}
