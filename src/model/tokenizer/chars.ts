/**
 * Character-level tokenizer for the small sequence-to-sequence tasks (dates -> ISO dates):
 * one id per Unicode character of a fixed alphabet, plus special tokens.
 */

import { checkTokenId, isJsonObject, specialTokensField, stringArrayField } from './json';
import { readableText } from './readable';
import { eosIdOf, TokenizerError, type Tokenizer } from './types';

/**
 * Special tokens keep the ids they are given; the alphabet fills the other ids in order, so with
 * `{"<pad>":0,"<s>":1,"</s>":2}` the alphabet starts at id 3.
 */
export interface CharsJson {
  type: 'chars';
  /** One Unicode character (code point) per entry, all distinct. */
  alphabet: string[];
  special_tokens: Record<string, number>;
}

const FILE = 'lab-tokenizer.json (chars)';

export const DEFAULT_CHARS_SPECIAL_TOKENS: Readonly<Record<string, number>> = {
  '<pad>': 0,
  '<s>': 1,
  '</s>': 2,
};

export class CharsTokenizer implements Tokenizer {
  readonly kind = 'chars';
  readonly vocabSize: number;
  readonly eosId: number | null;
  readonly specialTokens: Readonly<Record<string, number>>;
  private readonly alphabet: string[];
  private readonly charIds = new Map<string, number>();
  /** id -> character or special token name. */
  private readonly tokens: string[];
  private readonly specialIds: ReadonlySet<number>;

  static fromJson(json: unknown): CharsTokenizer {
    if (!isJsonObject(json)) throw new TokenizerError(`${FILE}: expected a JSON object`);
    if (json.type !== 'chars') {
      throw new TokenizerError(`${FILE}: "type" is ${JSON.stringify(json.type)}, not "chars"`);
    }
    const alphabet = stringArrayField(json, 'alphabet', FILE);
    const specialTokens = specialTokensField(json, (count) => alphabet.length + count, FILE);
    return new CharsTokenizer({ type: 'chars', alphabet, special_tokens: specialTokens });
  }

  /** The alphabet of `texts`: their distinct characters in code point order. */
  static fromTexts(
    texts: Iterable<string>,
    specialTokens: Readonly<Record<string, number>> = DEFAULT_CHARS_SPECIAL_TOKENS,
  ): CharsTokenizer {
    const chars = new Set<string>();
    for (const text of texts) for (const char of text) chars.add(char);
    const alphabet = [...chars].sort(
      (a, b) => (a.codePointAt(0) as number) - (b.codePointAt(0) as number),
    );
    return CharsTokenizer.fromJson({
      type: 'chars',
      alphabet,
      special_tokens: { ...specialTokens },
    });
  }

  private constructor(json: CharsJson) {
    this.alphabet = json.alphabet;
    this.specialTokens = json.special_tokens;
    this.vocabSize = json.alphabet.length + Object.keys(json.special_tokens).length;
    this.specialIds = new Set(Object.values(json.special_tokens));
    this.eosId = eosIdOf(json.special_tokens);
    this.tokens = new Array<string>(this.vocabSize);
    for (const [name, id] of Object.entries(json.special_tokens)) this.tokens[id] = name;
    let id = 0;
    json.alphabet.forEach((char, i) => {
      if ([...char].length !== 1) {
        throw new TokenizerError(`${FILE}: alphabet[${i}] "${char}" is not a single character`);
      }
      if (this.charIds.has(char)) {
        throw new TokenizerError(`${FILE}: alphabet[${i}] "${char}" appears twice`);
      }
      while (this.specialIds.has(id)) id++;
      this.charIds.set(char, id);
      this.tokens[id] = char;
      id++;
    });
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const char of text) {
      const id = this.charIds.get(char);
      if (id === undefined) {
        const code = (char.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0');
        throw new TokenizerError(
          `the character "${readableText(char)}" (U+${code}) is not in this tokenizer's alphabet`,
        );
      }
      ids.push(id);
    }
    return ids;
  }

  decode(ids: number[]): string {
    return ids
      .map((id) => {
        checkTokenId(id, this.vocabSize);
        return this.tokens[id];
      })
      .join('');
  }

  piece(id: number): string {
    checkTokenId(id, this.vocabSize);
    return this.specialIds.has(id) ? this.tokens[id] : readableText(this.tokens[id]);
  }

  toJSON(): CharsJson {
    return {
      type: 'chars',
      alphabet: [...this.alphabet],
      special_tokens: { ...this.specialTokens },
    };
  }
}
