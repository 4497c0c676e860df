/**
 * Hugging Face tokenizer.json files through `HfTokenizer`: three small files written here in the
 * three styles the lab loads (GPT-2 byte-level BPE, BERT WordPiece, Llama-2 metaspace BPE with
 * byte fallback). Every expected id below is derived by hand from the file's vocabulary and
 * merges, in the comment next to it.
 */
import { describe, expect, it } from 'vitest';
import { BYTE_TO_CHAR } from '../../src/model/tokenizer/byteLevel';
import { HfTokenizer } from '../../src/model/tokenizer/hf';
import { buildEncoderInput } from '../../src/model/tokenizer/hfInput';
import { isHfTokenizerJson } from '../../src/model/tokenizer/hfJson';
import { hfTokenizerFromVocabTxt } from '../../src/model/tokenizer/hfVocab';
import { hfTokenizer } from '../../src/model/tokenizer/index';
import { TokenizerError } from '../../src/model/tokenizer/types';

const special = (id: number, content: string) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

// ---------------------------------------------------------------------------------------------
// GPT-2 style: byte-level pre-tokenizer and decoder; byte b is id b (through GPT-2's table).

const BYTE_MERGES = ['h e', 'Ġ t', 'Ġt he', 'l l', 'll o'];
const EOT = 256 + BYTE_MERGES.length; // 261

function byteLevelJson() {
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((c, b) => (vocab[c] = b));
  BYTE_MERGES.forEach((m, i) => (vocab[m.replace(' ', '')] = 256 + i));
  vocab['<|endoftext|>'] = EOT;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(EOT, '<|endoftext|>')],
    normalizer: null,
    pre_tokenizer: {
      type: 'ByteLevel',
      add_prefix_space: false,
      trim_offsets: true,
      use_regex: true,
    },
    post_processor: {
      type: 'ByteLevel',
      add_prefix_space: true,
      trim_offsets: false,
      use_regex: true,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: BYTE_MERGES, // the older "a b" form of merges
    },
  };
}

const code = (c: string) => c.charCodeAt(0);

describe('HfTokenizer: byte-level BPE', () => {
  const tok = HfTokenizer.fromJson(byteLevelJson(), { eos_token: '<|endoftext|>' });

  it('encodes by the merges, inside pre-tokens only', () => {
    expect(tok.kind).toBe('hf');
    expect(tok.scheme).toBe('byte-bpe');
    expect(tok.vocabSize).toBe(262);
    // "the": t h e -> (h e) -> t he; no rule "t he"
    expect(tok.encode('the')).toEqual([code('t'), 256]);
    // " the": Ġ t h e -> Ġ t he -> Ġt he -> Ġthe
    expect(tok.encode(' the')).toEqual([258]);
    // " hello": Ġ h e l l o -> Ġ he l l o -> Ġ he ll o -> Ġ he llo
    expect(tok.encode('the hello')).toEqual([code('t'), 256, code(' '), 256, 260]);
    // the pre-tokenizer cuts "he's" into "he" "'s": no merge crosses it
    expect(tok.encode("he's")).toEqual([256, code("'"), code('s')]);
  });

  it('round-trips any text through bytes', () => {
    for (const text of ['the hello', 'héllo 👋\n\tdone', '  two  spaces ', '日本語', '']) {
      expect(tok.decode(tok.encode(text))).toBe(text);
    }
    // é is two bytes C3 A9; GPT-2's table moves bytes above 0x7e
    expect(tok.encode('é')).toEqual([0xc3, 0xa9]);
  });

  it('recognizes the end-of-text token and names it', () => {
    expect(tok.eosId).toBe(EOT);
    expect(tok.encode('hi<|endoftext|>')).toEqual([code('h'), code('i'), EOT]);
    expect(tok.decode([EOT])).toBe('<|endoftext|>');
    expect(tok.piece(EOT)).toBe('<|endoftext|>');
  });

  it('shows pieces as readable text', () => {
    expect(tok.tokenText(258)).toBe('Ġthe');
    expect(tok.piece(258)).toBe(' the');
    expect(tok.piece(10)).toBe('↵');
    expect(tok.piece(0xf0)).toBe('<0xF0>');
  });

  it('explains the merges in rank order, ending at encode', () => {
    expect(tok.explain?.('the hello')).toEqual([
      ['t', 'h', 'e', ' ', 'h', 'e', 'l', 'l', 'o'],
      ['t', 'he', ' ', 'he', 'l', 'l', 'o'],
      ['t', 'he', ' ', 'he', 'll', 'o'],
      ['t', 'he', ' ', 'he', 'llo'],
    ]);
    expect(tok.explain?.(' the').at(-1)).toEqual(tok.encode(' the').map((id) => tok.piece(id)));
  });

  it('refuses ids outside the vocabulary', () => {
    expect(() => tok.decode([262])).toThrow(TokenizerError);
    expect(() => tok.piece(-1)).toThrow(/outside the vocabulary/);
  });
});

// ---------------------------------------------------------------------------------------------
// BERT style: WordPiece, lower-casing and accent stripping, [CLS] a [SEP] b [SEP].

const WORDS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'cat', 'un', '##aff'];
const WORDPIECE_VOCAB = [...WORDS, '##able', 'cafe', '!', '##s', 'sat', 'The'];

function wordPieceJson() {
  const vocab = Object.fromEntries(WORDPIECE_VOCAB.map((t, i) => [t, i]));
  return {
    version: '1.0',
    added_tokens: WORDPIECE_VOCAB.slice(0, 5).map((t, i) => special(i, t)),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab,
    },
  };
}

describe('HfTokenizer: WordPiece', () => {
  const tok = HfTokenizer.fromJson(wordPieceJson());

  it('lower-cases, strips accents, splits punctuation and takes the longest pieces', () => {
    expect(tok.scheme).toBe('wordpiece');
    expect(tok.eosId).toBeNull();
    expect(tok.special).toMatchObject({ pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 });
    // "Unaffable" -> "unaffable" -> un ##aff ##able; "Café!" -> "cafe" "!"; "Cats" -> cat ##s
    expect(tok.encode('Unaffable Café! Cats')).toEqual([7, 8, 9, 10, 11, 6, 12]);
    // no piece spells "dog": the whole word is [UNK]
    expect(tok.encode('the dog')).toEqual([5, 1]);
    expect(tok.decode(tok.encode('the cats sat!'))).toBe('the cats sat!');
    expect(tok.piece(8)).toBe('##aff');
  });

  it('builds [CLS] a [SEP] b [SEP] with token types, and finds the typed [MASK]', () => {
    expect(buildEncoderInput(tok, 'the cat')).toEqual({
      ids: [2, 5, 6, 3],
      tokenTypeIds: [0, 0, 0, 0],
      maskPositions: [],
    });
    expect(buildEncoderInput(tok, 'the [MASK] [SEP] cat sat')).toEqual({
      ids: [2, 5, 4, 3, 6, 13, 3],
      tokenTypeIds: [0, 0, 0, 0, 1, 1, 1],
      maskPositions: [2],
    });
    // a typed leading [CLS] and trailing [SEP] are not doubled
    expect(buildEncoderInput(tok, '[CLS] the [MASK] [SEP]').ids).toEqual([2, 5, 4, 3]);
  });

  it('builds the same tokenizer from vocab.txt alone', () => {
    const fromTxt = hfTokenizerFromVocabTxt(`${WORDPIECE_VOCAB.join('\n')}\n`);
    for (const text of ['Unaffable Café! Cats', 'the [MASK] dog']) {
      expect(fromTxt.encode(text)).toEqual(tok.encode(text));
    }
    expect(buildEncoderInput(fromTxt, 'the [MASK] [SEP] cat sat')).toEqual(
      buildEncoderInput(tok, 'the [MASK] [SEP] cat sat'),
    );
  });

  it('loads a vocabulary the size of Qwen2 and Llama 3 (150k tokens)', () => {
    const words = Array.from({ length: 150_000 }, (_, i) => `w${i}`);
    const big = hfTokenizerFromVocabTxt([...WORDS.slice(0, 5), ...words].join('\n'));
    expect(big.vocabSize).toBe(150_005);
    expect(big.encode('w149999 w7')).toEqual([150_004, 12]);
  });

  it('keeps case where tokenizer_config.json says do_lower_case: false', () => {
    const cased = hfTokenizerFromVocabTxt(WORDPIECE_VOCAB.join('\n'), { do_lower_case: false });
    expect(cased.encode('The the')).toEqual([14, 5]);
    // accents are stripped only with lower-casing, as BertTokenizer does
    expect(cased.encode('Café')).toEqual([1]);
    expect(() => hfTokenizerFromVocabTxt('the\ncat')).toThrow(/lacks the token \[UNK\]/);
  });
});

// ---------------------------------------------------------------------------------------------
// Llama-2 style: '▁' for spaces, BPE with byte fallback to <0xNN> tokens.

const HEX = Array.from(
  { length: 256 },
  (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`,
);
const META_VOCAB = [
  '<unk>',
  '<s>',
  '</s>',
  ...HEX,
  '▁',
  '▁t',
  'he',
  '▁the',
  'c',
  'a',
  't',
  'h',
  'e',
  '▁c',
];
const META_ID = (t: string) => META_VOCAB.indexOf(t);

function metaspaceJson() {
  return {
    version: '1.0',
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab: Object.fromEntries(META_VOCAB.map((t, i) => [t, i])),
      merges: [
        ['▁', 't'],
        ['h', 'e'],
        ['▁t', 'he'],
        ['▁', 'c'],
      ], // the newer [a, b] form of merges
    },
  };
}

describe('HfTokenizer: metaspace BPE with byte fallback', () => {
  const tok = HfTokenizer.fromJson(metaspaceJson(), { bos_token: '<s>', eos_token: '</s>' });

  it('encodes by the merges and falls back to bytes', () => {
    expect(tok.scheme).toBe('bpe');
    expect(tok.eosId).toBe(2);
    expect(tok.special.bos).toBe(1);
    // "the cat" -> "▁the▁cat": ▁ t h e ▁ c a t -> ▁t h e ▁ c a t -> ▁t he ▁ c a t
    //   -> ▁the ▁ c a t -> ▁the ▁c a t
    expect(tok.encode('the cat')).toEqual(['▁the', '▁c', 'a', 't'].map(META_ID));
    // "é" is not a token: its UTF-8 bytes C3 A9 are
    expect(tok.encode('é')).toEqual([META_ID('▁'), 3 + 0xc3, 3 + 0xa9]);
    expect(tok.encodePair('the').ids).toEqual([1, META_ID('▁the')]);
  });

  it('round-trips text, bytes included', () => {
    for (const text of ['the cat', 'café 👋', 'a\nb'])
      expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it('shows pieces with spaces and bytes', () => {
    expect(tok.piece(META_ID('▁the'))).toBe(' the');
    expect(tok.piece(3 + 0x0a)).toBe('↵');
    expect(tok.piece(3 + 0xc3)).toBe('<0xC3>');
    expect(tok.piece(2)).toBe('</s>');
  });

  it('explains the merges, bytes first where a character is not a token', () => {
    expect(tok.explain?.('the é')).toEqual([
      [' ', 't', 'h', 'e', ' ', '<0xC3>', '<0xA9>'],
      [' t', 'h', 'e', ' ', '<0xC3>', '<0xA9>'],
      [' t', 'he', ' ', '<0xC3>', '<0xA9>'],
      [' the', ' ', '<0xC3>', '<0xA9>'],
    ]);
  });
});

describe('HfTokenizer: files', () => {
  it('tells Hugging Face files from the project own ones', () => {
    expect(isHfTokenizerJson(byteLevelJson())).toBe(true);
    expect(isHfTokenizerJson(wordPieceJson())).toBe(true);
    expect(isHfTokenizerJson({ type: 'byte-bpe', vocab: [], merges: [] })).toBe(false);
    expect(isHfTokenizerJson({ model: { type: 'Magic' } })).toBe(false);
  });

  it('loads either file through the lazy entry point', async () => {
    const fromJson = await hfTokenizer({ tokenizerJson: wordPieceJson(), tokenizerConfig: {} });
    const fromTxt = await hfTokenizer({ vocabTxt: WORDPIECE_VOCAB.join('\n') });
    expect(fromTxt.encode('Unaffable')).toEqual(fromJson.encode('Unaffable'));
    await expect(hfTokenizer({})).rejects.toThrow(/needs tokenizer.json or vocab.txt/);
  });

  it('refuses broken files with a TokenizerError', () => {
    expect(() => HfTokenizer.fromJson({ type: 'chars' })).toThrow(/not a Hugging Face tokenizer/);
    const json = byteLevelJson() as Record<string, unknown>;
    json.pre_tokenizer = { type: 'Telepathy' };
    expect(() => HfTokenizer.fromJson(json)).toThrow(TokenizerError);
    expect(() => HfTokenizer.fromJson(json)).toThrow(/Telepathy/);
  });
});
