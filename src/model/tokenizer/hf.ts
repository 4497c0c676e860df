/**
 * Hugging Face `tokenizer.json` files (the `tokenizers` library's format: normalizer,
 * pre-tokenizer, model, post-processor, decoder, added tokens), run by the maintained
 * `@huggingface/tokenizers` package and wrapped into the lab's `Tokenizer` interface. Covers
 * byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM2), SentencePiece-style BPE with byte fallback
 * (Llama 2, TinyLlama), WordPiece (BERT, DistilBERT) and Unigram. See docs/tokenizer.md.
 */

import { BPE, Tokenizer as HfLibTokenizer, Unigram } from '@huggingface/tokenizers';
import { CHAR_TO_BYTE } from './byteLevel';
import { HF_MODEL_TYPES, isHfTokenizerJson, type HfScheme } from './hfJson';
import { checkTokenId, isJsonObject, type JsonObject } from './json';
import { readableBytes, readableText } from './readable';
import { TokenizerError, type Tokenizer } from './types';

/** Ids of the tokens an encoder input or a generation loop needs; null when the file has none. */
export interface HfSpecialIds {
  cls: number | null;
  sep: number | null;
  mask: number | null;
  pad: number | null;
  unk: number | null;
  bos: number | null;
  eos: number | null;
}

/** Ids and token types of one encoder input, special tokens included (see `encodePair`). */
export interface HfPairEncoding {
  ids: number[];
  tokenTypeIds: number[];
}

/** Parts of a tokenizer.json the library requires as keys, even when they are null. */
const OPTIONAL_PARTS = ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'];

/** Names tried, in order, when tokenizer_config.json does not name a special token. */
const DEFAULT_NAMES: Record<keyof HfSpecialIds, string[]> = {
  cls: ['[CLS]', '<s>'],
  sep: ['[SEP]', '</s>'],
  mask: ['[MASK]', '<mask>'],
  pad: ['[PAD]', '<pad>', '<|endoftext|>'],
  unk: ['[UNK]', '<unk>'],
  bos: ['<s>', '<|begin_of_text|>', '<|endoftext|>'],
  eos: ['</s>', '<|endoftext|>', '<|end_of_text|>', '<|im_end|>'],
};

/** Whether a decoder config (possibly a `Sequence`) contains a part for which `test` holds. */
function decoderHas(decoder: unknown, test: (part: JsonObject) => boolean): boolean {
  if (!isJsonObject(decoder)) return false;
  if (test(decoder)) return true;
  return Array.isArray(decoder.decoders) && decoder.decoders.some((d) => decoderHas(d, test));
}

/** The token text tokenizer_config.json gives for `field` (a string or an AddedToken object). */
function configToken(config: JsonObject, field: string): string | null {
  const value = config[`${field}_token`];
  if (typeof value === 'string') return value;
  if (isJsonObject(value) && typeof value.content === 'string') return value.content;
  return null;
}

const BYTE_FALLBACK = /^<0x([0-9A-F]{2})>$/;

export class HfTokenizer implements Tokenizer {
  readonly kind = 'hf';
  readonly scheme: HfScheme;
  readonly vocabSize: number;
  readonly eosId: number | null;
  readonly special: HfSpecialIds;
  /** BPE only (see `Tokenizer.explain`). */
  readonly explain?: (word: string) => string[][];
  /** Unigram only (see `Tokenizer.scoredPieces`). */
  readonly scoredPieces?: (text: string) => { piece: string; score: number }[];
  private readonly lib: HfLibTokenizer;
  /** Tokens stored through GPT-2's byte-to-character table ('Ġthe'). */
  private readonly byteLevel: boolean;
  /** Tokens that mark a space with '▁' (SentencePiece style). */
  private readonly metaspace: boolean;
  private readonly addedIds: Set<number>;
  /**
   * No post-processor, or only `ByteLevel` (which adds no tokens): a pair is the two encodings
   * one after the other, types 0 then 1, as the Rust library does. Done here because
   * @huggingface/tokenizers 0.2.0's ByteLevel post-processor drops the second sentence, and
   * without a post-processor it gives no token types.
   */
  private readonly pairByConcatenation: boolean;

  private constructor(lib: HfLibTokenizer, json: JsonObject, config: JsonObject) {
    this.lib = lib;
    const model = json.model as JsonObject;
    this.scheme = HF_MODEL_TYPES[model.type as string];
    this.byteLevel = decoderHas(json.decoder, (d) => d.type === 'ByteLevel');
    this.metaspace = decoderHas(
      json.decoder,
      (d) => d.type === 'Metaspace' || (d.type === 'Replace' && JSON.stringify(d).includes('▁')),
    );
    if (this.scheme === 'bpe' && this.byteLevel) this.scheme = 'byte-bpe';
    // The model's id -> token array, added tokens included (the library sets them there).
    this.vocabSize = lib.model?.vocab.length ?? 0;
    this.addedIds = new Set(lib.get_added_tokens_decoder().keys());
    const post = json.post_processor;
    this.pairByConcatenation = !isJsonObject(post) || post.type === 'ByteLevel';
    const idOf = (field: keyof HfSpecialIds): number | null => {
      const named = configToken(config, field);
      const names = named !== null ? [named] : DEFAULT_NAMES[field];
      for (const name of names) {
        const id = lib.token_to_id(name);
        if (id !== undefined) return id;
      }
      return null;
    };
    this.special = {
      cls: idOf('cls'),
      sep: idOf('sep'),
      mask: idOf('mask'),
      pad: idOf('pad'),
      unk: idOf('unk'),
      bos: idOf('bos'),
      eos: idOf('eos'),
    };
    // An encoder's [SEP] ends a segment, not a text to continue: it has no end of sequence.
    this.eosId = this.scheme === 'wordpiece' ? null : this.special.eos;
    if (lib.model instanceof BPE) {
      const bpe = lib.model;
      this.explain = (word) => this.explainBpe(bpe, word);
    }
    if (lib.model instanceof Unigram) {
      const { scores } = lib.model;
      this.scoredPieces = (text) =>
        this.encode(text).map((id) => ({ piece: this.tokenText(id), score: scores[id] }));
    }
  }

  /**
   * Builds the tokenizer from a parsed `tokenizer.json` and, when the repo has one, its parsed
   * `tokenizer_config.json` (which names the special tokens). Broken files throw TokenizerError.
   */
  static fromJson(tokenizerJson: unknown, tokenizerConfig: unknown = {}): HfTokenizer {
    if (!isHfTokenizerJson(tokenizerJson)) {
      throw new TokenizerError(
        `tokenizer.json: not a Hugging Face tokenizer file (expected a "model" whose "type" is ${Object.keys(HF_MODEL_TYPES).join(', ')})`,
      );
    }
    const config = isJsonObject(tokenizerConfig) ? tokenizerConfig : {};
    const json: JsonObject = { added_tokens: [], ...tokenizerJson };
    for (const part of OPTIONAL_PARTS) json[part] ??= null;
    let lib: HfLibTokenizer;
    try {
      lib = new HfLibTokenizer(json, config);
    } catch (e) {
      throw new TokenizerError(`tokenizer.json: ${(e as Error).message}`);
    }
    return new HfTokenizer(lib, json, config);
  }

  /**
   * Text to ids, without the special tokens the post-processor adds ([CLS], <s>). Added tokens
   * typed in the text (`[MASK]`, `<|im_start|>`) are recognized, as the Hugging Face tokenizer
   * does: an encoder's mask token is typed this way.
   */
  encode(text: string): number[] {
    if (text === '') return [];
    return this.lib.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * One or two sentences with the special tokens and token types of the file's post-processor:
   * BERT's `[CLS] a [SEP]` (types 0…0) and `[CLS] a [SEP] b [SEP]` (types 0…0 1…1).
   */
  encodePair(first: string, second: string | null = null): HfPairEncoding {
    if (this.pairByConcatenation) {
      const a = this.encode(first);
      const b = second === null ? [] : this.encode(second);
      return { ids: [...a, ...b], tokenTypeIds: [...a.map(() => 0), ...b.map(() => 1)] };
    }
    const out = this.lib.encode(first, {
      text_pair: second,
      add_special_tokens: true,
      return_token_type_ids: true,
    });
    return { ids: out.ids, tokenTypeIds: out.token_type_ids ?? out.ids.map(() => 0) };
  }

  /** Ids to text, special tokens kept and no clean-up of spaces, so that decode(encode(s)) = s. */
  decode(ids: number[]): string {
    for (const id of ids) this.tokenText(id);
    if (ids.length === 0) return '';
    return this.lib.decode(ids, {
      skip_special_tokens: false,
      clean_up_tokenization_spaces: false,
    });
  }

  /** The token as the file writes it ('Ġthe', '▁the', '##ing', '<0x0A>'). */
  tokenText(id: number): string {
    checkTokenId(id, this.vocabSize);
    const text = this.lib.id_to_token(id);
    if (text === undefined) throw new TokenizerError(`token id ${id} has no token in this file`);
    return text;
  }

  /**
   * Readable text of one token: byte-level characters turned back into bytes, '▁' shown as a
   * space, a byte-fallback token `<0x0A>` shown as the byte ('↵'), WordPiece's '##' kept (it is
   * how BERT marks the rest of a word).
   */
  piece(id: number): string {
    const text = this.tokenText(id);
    if (this.addedIds.has(id)) return readableText(text);
    return this.readable(text);
  }

  private readable(text: string): string {
    if (this.byteLevel) {
      const bytes = Uint8Array.from(text, (c) => CHAR_TO_BYTE.get(c) ?? 0x3f);
      return readableBytes(bytes);
    }
    const byte = BYTE_FALLBACK.exec(text);
    if (byte) return readableBytes(Uint8Array.of(parseInt(byte[1], 16)));
    return readableText(this.metaspace ? text.replaceAll('▁', ' ') : text);
  }

  /**
   * The successive splits of `word` under the file's BPE: the normalizer and pre-tokenizer cut it
   * into pre-tokens, each starts as single characters (bytes for byte-level files; a character
   * outside the vocabulary becomes its byte-fallback tokens), then each merge that applies, in
   * rank order, merges all its occurrences. Files with `ignore_merges` take a pre-token that is
   * already a token whole, as the library does.
   */
  private explainBpe(bpe: BPE, word: string): string[][] {
    const normalized = this.lib.normalizer ? this.lib.normalizer(word) : word;
    const pretokens = this.lib.pre_tokenizer ? this.lib.pre_tokenizer(normalized) : [normalized];
    let parts = pretokens.map((p) => this.initialSymbols(bpe, p));
    const steps = [parts.flat()];
    for (;;) {
      let best: number | null = null;
      for (const symbols of parts) {
        for (let i = 0; i + 1 < symbols.length; i++) {
          const rank = bpe.bpe_ranks.get(JSON.stringify([symbols[i], symbols[i + 1]]));
          if (rank !== undefined && (best === null || rank < best)) best = rank;
        }
      }
      if (best === null) break;
      const [left, right] = bpe.merges[best];
      parts = parts.map((symbols) => mergeAll(symbols, left, right));
      steps.push(parts.flat());
    }
    return steps.map((split) => split.map((s) => this.readable(s)));
  }

  private initialSymbols(bpe: BPE, pretoken: string): string[] {
    if (bpe.ignore_merges && bpe.tokens_to_ids.has(pretoken)) return [pretoken];
    return Array.from(pretoken).flatMap((c) => {
      if (!bpe.byte_fallback || bpe.tokens_to_ids.has(c)) return [c];
      return Array.from(new TextEncoder().encode(c), (b) => {
        return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      });
    });
  }
}

/** `symbols` with every non-overlapping `left right` pair, left to right, merged. */
function mergeAll(symbols: string[], left: string, right: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
      out.push(left + right);
      i++;
    } else {
      out.push(symbols[i]);
    }
  }
  return out;
}
