import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MarianTokenizer, marianTokenizer } from '../../src/model/tokenizer/marian';
import { SentencePieceProcessor } from '../../src/model/tokenizer/sentencepiece';
import { parseSentencePieceModel } from '../../src/model/tokenizer/sentencepieceModel';
import { TokenizerError } from '../../src/model/tokenizer/types';
import { randomUnicodeString, SAMPLE_TEXTS, seededRandom } from './tokenizerTestText';

/**
 * Reference: the original C++ SentencePiece compiled to WebAssembly (`@agnai/sentencepiece-js`).
 * The models in data/spm were trained by the C++ trainer (see data/spm/README.md).
 */
interface CppSentencePiece {
  load(path: string): Promise<void>;
  encodeIds(text: string): number[];
  encodePieces(text: string): string[];
}
const { SentencePieceProcessor: CppSentencePieceProcessor } = createRequire(import.meta.url)(
  '@agnai/sentencepiece-js',
) as { SentencePieceProcessor: new () => CppSentencePiece };

const SPM_DIR = join(import.meta.dirname, 'data', 'spm');
const MODELS = ['source', 'target', 'bpe'] as const;
type ModelName = (typeof MODELS)[number];
const spmPath = (name: ModelName) => join(SPM_DIR, `${name}.spm`);
const spmBytes = (name: ModelName) => new Uint8Array(readFileSync(spmPath(name)));
const VOCAB: Record<string, number> = JSON.parse(readFileSync(join(SPM_DIR, 'vocab.json'), 'utf8'));

const HAND_PICKED = [
  '',
  ' ',
  '   \t\n  ',
  'Hello, world!',
  'First Citizen:\nBefore we proceed any further, hear me speak.',
  'KING RICHARD III: A horse! a horse! my kingdom for a horse!',
  "O Romeo, Romeo! wherefore art thou Romeo? Deny thy father and refuse thy name; 'tis but thy name.",
  '   leading and trailing spaces   ',
  'multiple     spaces\t\ttabs\n\nnewlines\r\n',
  'Numbers: 0 1 12 123 1234 3.14159 1,000,000 2024-05-17 -42 1e-9',
  'Punctuation!?.,;:\'"()[]{}<>@#$%^&*_+=|\\/~`',
  'Ellipsis... and more.... and ...',
  'Accents: café naïve résumé Ångström façade, decomposed: cafe\u0301 n\u0303',
  'Full width: ＡＢＣ ｆｕｌｌ １２３ and ligatures: ﬁne ﬂow ﬀ',
  'Superscripts x² and fractions ½ and roman Ⅻ and circled ①',
  'No-break\u00a0space, ideographic\u3000space, thin\u2009space, zero\u200bwidth',
  '中文字符和日本語のテキスト、한국어 텍스트',
  '中文 日本語 中 文',
  'Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ and 😀😀😀 in a row',
  'Unknown run: ✓✓✓ ★☆ ∑∫ →← and mixed a✓b',
  'User-defined: [NAME] said <sep> to [NAME]<sep>[NAME]',
  'Control \u0000\u0001\u0007\u001b[31m red \u007f end',
  'Arabic: مرحبا بالعالم، Hebrew: שלום עולם',
  '▁ already ▁▁ has ▁ markers▁',
  'UPPER lower MiXeD',
  'a',
  '😀',
];

/**
 * Text made of the model's own pieces and punctuation every model has, so that the search has many
 * overlapping candidates and nothing is unknown.
 */
function pieceSoup(processor: SentencePieceProcessor, random: () => number, count: number): string {
  const normal = processor.pieces.filter((p) => p.type === 'normal').map((p) => p.piece);
  let text = '';
  for (let i = 0; i < count; i++) {
    text += normal[Math.floor(random() * normal.length)].replace(/\u2581/g, ' ');
    if (random() < 0.1) text += ' .,;:!?'[Math.floor(random() * 7)];
  }
  return text;
}

function comparisonTexts(processor: SentencePieceProcessor): string[] {
  const random = seededRandom(20240517);
  const texts = [...HAND_PICKED, ...SAMPLE_TEXTS];
  for (let i = 0; i < 600; i++) texts.push(randomUnicodeString(random, 40));
  for (let i = 0; i < 600; i++)
    texts.push(pieceSoup(processor, random, 1 + Math.floor(random() * 30)));
  // One long input: 20,000 characters.
  texts.push(pieceSoup(processor, random, 6000).slice(0, 20_000));
  return texts;
}

describe('SentencePiece model files', () => {
  it('reads the pieces, model type and normaliser settings of each file', () => {
    const source = parseSentencePieceModel(spmBytes('source'));
    expect(source.modelType).toBe('unigram');
    expect(source.pieces).toHaveLength(1000);
    expect(source.pieces.slice(0, 3)).toEqual([
      { piece: '<unk>', score: 0, type: 'unknown' },
      { piece: '<s>', score: 0, type: 'control' },
      { piece: '</s>', score: 0, type: 'control' },
    ]);
    // Scores are float32 in the file; spm_export_vocab prints this one as -3.01426.
    expect(source.pieces[3]).toEqual({
      piece: ',',
      score: Math.fround(source.pieces[3].score),
      type: 'normal',
    });
    expect(source.pieces[3].score).toBeCloseTo(-3.01426, 5);
    expect(source.normalizer).toMatchObject({
      name: 'nmt_nfkc',
      addDummyPrefix: true,
      removeExtraWhitespaces: true,
      escapeWhitespaces: true,
    });
    expect(source.normalizer.precompiledCharsmap.length).toBeGreaterThan(100_000);

    const target = parseSentencePieceModel(spmBytes('target'));
    expect(target.normalizer.name).toBe('identity');
    expect(target.normalizer.precompiledCharsmap).toHaveLength(0);
    expect(target.pieces.filter((p) => p.type === 'user-defined').map((p) => p.piece)).toEqual([
      '[NAME]',
      '<sep>',
    ]);

    const bpe = parseSentencePieceModel(spmBytes('bpe'));
    expect(bpe).toMatchObject({
      modelType: 'bpe',
      byteFallback: true,
      treatWhitespaceAsSuffix: false,
    });
    expect(bpe.normalizer.removeExtraWhitespaces).toBe(false);
    expect(bpe.pieces.filter((p) => p.type === 'byte')).toHaveLength(256);
    expect(bpe.pieces[3 + 0xe2]).toEqual({ piece: '<0xE2>', score: 0, type: 'byte' });
  });

  it('normalises by the rules stored in the file (hand-checked)', () => {
    const source = SentencePieceProcessor.fromBytes(spmBytes('source'));
    // nmt_nfkc: NFKC, odd spaces become spaces, runs collapse, ends trimmed, dummy prefix.
    expect(source.normalize('  Café   ｆｕｌｌ\u3000ﬁne ½\u00a0x  ')).toBe('▁Café▁full▁fine▁1⁄2▁x');
    expect(source.normalize('cafe\u0301')).toBe('▁café');
    expect(source.normalize('')).toBe('');
    expect(source.normalize(' \t\n ')).toBe('');
    // identity: only whitespace handling.
    const target = SentencePieceProcessor.fromBytes(spmBytes('target'));
    expect(target.normalize('  ｆｕｌｌ  x ')).toBe('▁ｆｕｌｌ▁x');
    // lowercase.tsv rules, the longest match first; whitespace kept as it is.
    const bpe = SentencePieceProcessor.fromBytes(spmBytes('bpe'));
    expect(bpe.normalize(' A  B.... ﬁ\u3000')).toBe('▁▁a▁▁b….▁fi▁');
  });

  it('merges runs of unknown characters into one <unk>, or spells them in bytes', () => {
    const source = SentencePieceProcessor.fromBytes(spmBytes('source'));
    const { pieces, ids } = source.encode('a ✓✓✓ b');
    expect(pieces).toContain('✓✓✓');
    expect(ids[pieces.indexOf('✓✓✓')]).toBe(source.unkId);
    expect(ids.filter((id) => id === source.unkId)).toHaveLength(1);

    const bpe = SentencePieceProcessor.fromBytes(spmBytes('bpe'));
    const euro = bpe.encode('€€');
    expect(euro.pieces.slice(-6)).toEqual([
      '<0xE2>',
      '<0x82>',
      '<0xAC>',
      '<0xE2>',
      '<0x82>',
      '<0xAC>',
    ]);
    expect(euro.ids.slice(-3)).toEqual([3 + 0xe2, 3 + 0x82, 3 + 0xac]);
  });

  it.each(['source', 'target'] as const)(
    '%s.spm normalises as the C++ library does',
    async (name) => {
      const cpp = new CppSentencePieceProcessor();
      await cpp.load(spmPath(name));
      const ours = SentencePieceProcessor.fromBytes(spmBytes(name));
      // Unigram pieces cover the normalised text exactly, unknown ones included.
      for (const text of [...HAND_PICKED, ...SAMPLE_TEXTS]) {
        expect(ours.normalize(text), JSON.stringify(text)).toBe(cpp.encodePieces(text).join(''));
      }
    },
  );

  describe.each(MODELS)('%s.spm against the C++ SentencePiece', (name) => {
    let cpp: CppSentencePiece;
    let ours: SentencePieceProcessor;
    beforeAll(async () => {
      cpp = new CppSentencePieceProcessor();
      await cpp.load(spmPath(name));
      ours = SentencePieceProcessor.fromBytes(spmBytes(name));
    });

    it('gives the same pieces and ids on every text', () => {
      const texts = comparisonTexts(ours);
      const mismatches: unknown[] = [];
      let pieceCount = 0;
      for (const text of texts) {
        const expected = { pieces: cpp.encodePieces(text), ids: cpp.encodeIds(text) };
        const actual = ours.encode(text);
        pieceCount += actual.ids.length;
        if (JSON.stringify(actual) !== JSON.stringify(expected)) {
          mismatches.push({ text, actual, expected });
        }
      }
      expect(mismatches.slice(0, 3)).toEqual([]);
      expect(texts.length).toBeGreaterThan(1200);
      expect(pieceCount).toBeGreaterThan(20_000);
    });
  });
});

/** A minimal protobuf writer for hand-made models. */
function varint(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}
const field = (number: number, wire: number) => varint((number << 3) | wire);
const bytesField = (number: number, bytes: number[] | Uint8Array) => [
  ...field(number, 2),
  ...varint(bytes.length),
  ...bytes,
];
const stringField = (number: number, text: string) =>
  bytesField(number, new TextEncoder().encode(text));
const varintField = (number: number, value: number) => [...field(number, 0), ...varint(value)];
function floatField(number: number, value: number): number[] {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value, true);
  return [...field(number, 5), ...new Uint8Array(view.buffer)];
}
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const USER_DEFINED = 4;
const UNUSED = 5;
const BYTE = 6;

interface ModelOptions {
  modelType?: number;
  byteFallback?: boolean;
  addDummyPrefix?: boolean;
  removeExtraWhitespaces?: boolean;
  treatWhitespaceAsSuffix?: boolean;
  escapeWhitespaces?: boolean;
  /** Bytes appended to the message, to damage it. */
  extra?: number[];
}

function modelBytes(pieces: [string, number, number][], options: ModelOptions = {}): Uint8Array {
  const out: number[] = [];
  for (const [piece, score, type] of pieces) {
    out.push(
      ...bytesField(1, [
        ...stringField(1, piece),
        ...floatField(2, score),
        ...varintField(3, type),
      ]),
    );
  }
  out.push(
    ...bytesField(2, [
      ...varintField(3, options.modelType ?? 1),
      ...varintField(24, options.treatWhitespaceAsSuffix ? 1 : 0),
      ...varintField(35, options.byteFallback ? 1 : 0),
    ]),
  );
  out.push(
    ...bytesField(3, [
      ...stringField(1, 'identity'),
      ...varintField(3, (options.addDummyPrefix ?? true) ? 1 : 0),
      ...varintField(4, (options.removeExtraWhitespaces ?? true) ? 1 : 0),
      ...varintField(5, (options.escapeWhitespaces ?? true) ? 1 : 0),
    ]),
  );
  return Uint8Array.from([...out, ...(options.extra ?? [])]);
}

/**
 * A random model over a small alphabet whose scores come from a few values, so that equal
 * scores (ties) are frequent and some are positive; some characters are only inside longer
 * pieces, some pieces are unused or user-defined.
 */
const RANDOM_ALPHABET = ['\u2581', 'a', 'b', 'c', 'd', 'é', '中', '😀'];
function randomModel(random: () => number, options: ModelOptions): Uint8Array {
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];
  const pieces: [string, number, number][] = [
    ['<s>', 0, CONTROL],
    ['<unk>', 0, UNKNOWN],
    ['</s>', 0, CONTROL],
  ];
  const seen = new Set(pieces.map(([piece]) => piece));
  const add = (piece: string) => {
    if (seen.has(piece)) return;
    seen.add(piece);
    const roll = random();
    const type =
      roll < 0.05 ? UNUSED : roll < 0.08 && !piece.includes('\u2581') ? USER_DEFINED : NORMAL;
    pieces.push([piece, pick([-4, -3, -2, -2, -1, -1, -0.5, -0.3, -0.2, -0.1, 0, 1]), type]);
  };
  for (const char of RANDOM_ALPHABET) if (random() < 0.75) add(char);
  for (let i = 0; i < 250; i++) {
    let piece = '';
    for (let length = 2 + Math.floor(random() * 4); length > 0; length--)
      piece += pick(RANDOM_ALPHABET);
    add(piece);
  }
  return modelBytes(pieces, options);
}

describe('SentencePiece on hand-made models', () => {
  it('takes the most probable split (Viterbi), not the greedy longest match', () => {
    const model = SentencePieceProcessor.fromBytes(
      modelBytes([
        ['<unk>', 0, UNKNOWN],
        ['▁', -1, NORMAL],
        ['a', -2, NORMAL],
        ['b', -2, NORMAL],
        ['c', -2, NORMAL],
        ['▁ab', -3, NORMAL], // ▁ab + c = -5
        ['bc', -1, NORMAL], // ▁ + a + bc = -4: best
      ]),
    );
    expect(model.encode('abc')).toEqual({ pieces: ['▁', 'a', 'bc'], ids: [1, 2, 6] });
    // x and y are unknown: one <unk> for the run, scored below every piece.
    expect(model.encode('axyb')).toEqual({ pieces: ['▁', 'a', 'xy', 'b'], ids: [1, 2, 0, 3] });
  });

  it.each([
    ['unigram', 1],
    ['BPE', 2],
  ])('agrees with the C++ SentencePiece on random %s models full of ties', async (_, modelType) => {
    const random = seededRandom(modelType * 1000 + 17);
    const dir = mkdtempSync(join(tmpdir(), 'spm-'));
    const textChars = [...RANDOM_ALPHABET, ' ', ' ', ' ', 'x', '\t'];
    let compared = 0;
    const mismatches: unknown[] = [];
    try {
      for (let m = 0; m < 8; m++) {
        // Every combination of the whitespace options over the eight models.
        const bytes = randomModel(random, {
          modelType,
          addDummyPrefix: m % 4 !== 3,
          removeExtraWhitespaces: m % 2 === 0,
          treatWhitespaceAsSuffix: m % 4 === 1,
          escapeWhitespaces: m !== 6,
        });
        const path = join(dir, `model-${m}.spm`);
        writeFileSync(path, bytes);
        const cpp = new CppSentencePieceProcessor();
        await cpp.load(path);
        const ours = SentencePieceProcessor.fromBytes(bytes);
        for (let t = 0; t < 150; t++) {
          let text = '';
          for (let length = Math.floor(random() * 25); length > 0; length--) {
            text += textChars[Math.floor(random() * textChars.length)];
          }
          const expected = { pieces: cpp.encodePieces(text), ids: cpp.encodeIds(text) };
          const actual = ours.encode(text);
          if (JSON.stringify(actual) !== JSON.stringify(expected)) {
            mismatches.push({ model: m, text, actual, expected });
          }
          compared++;
        }
      }
    } finally {
      rmSync(dir, { recursive: true });
    }
    expect(mismatches.slice(0, 3)).toEqual([]);
    expect(compared).toBe(1200);
  });

  it('merges BPE pairs by score, leftmost first among equals', () => {
    const model = SentencePieceProcessor.fromBytes(
      modelBytes(
        [
          ['<unk>', 0, UNKNOWN],
          ['▁', -10, NORMAL],
          ['a', -10, NORMAL],
          ['aa', -1, NORMAL],
          ['▁aa', -2, NORMAL],
        ],
        { modelType: 2 },
      ),
    );
    // ▁aaa: "aa" (score -1) merges first, at the leftmost place, then ▁ + aa.
    expect(model.encode('aaa').pieces).toEqual(['▁aa', 'a']);
    expect(model.encode('aaaa').pieces).toEqual(['▁aa', 'aa']);
  });

  it('rejects files that are not SentencePiece models with a TokenizerError', () => {
    const valid: [string, number, number][] = [
      ['<unk>', 0, UNKNOWN],
      ['a', -1, NORMAL],
    ];
    const cases: [string, Uint8Array, RegExp][] = [
      ['empty', new Uint8Array(0), /no pieces/],
      ['JSON', new TextEncoder().encode('{"vocab": {}}'), /corrupt|wire type/],
      ['truncated', spmBytes('target').subarray(0, 5000), /runs past the end|ends inside/],
      ['no <unk>', modelBytes([['a', -1, NORMAL]]), /no unknown piece/],
      [
        'cut after its pieces',
        modelBytes(valid).subarray(0, modelBytes(valid).length - modelBytes([]).length),
        /no trainer_spec; is the file truncated\?/,
      ],
      ['duplicate', modelBytes([...valid, ['a', -2, NORMAL]]), /appears twice/],
      ['empty piece', modelBytes([...valid, ['', -2, NORMAL]]), /is empty/],
      ['word model', modelBytes(valid, { modelType: 3 }), /word is not supported/],
      ['byte piece', modelBytes([...valid, ['<0x41>', 0, BYTE]]), /without byte_fallback/],
      ['byte fallback', modelBytes([...valid, ['<0x41>', 0, BYTE]], { byteFallback: true }), /256/],
      [
        'bad varint',
        modelBytes(valid, {
          extra: [0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        }),
        /varint/,
      ],
      [
        'bad charsmap',
        modelBytes(valid, { extra: bytesField(3, bytesField(2, [200, 0, 0, 0, 1])) }),
        /precompiled_charsmap/,
      ],
    ];
    for (const [what, bytes, message] of cases) {
      expect(() => SentencePieceProcessor.fromBytes(bytes), what).toThrow(TokenizerError);
      expect(() => SentencePieceProcessor.fromBytes(bytes), what).toThrow(message);
    }
  });

  it('fails only with TokenizerError on randomly damaged files', () => {
    const random = seededRandom(3);
    for (const name of MODELS) {
      const original = spmBytes(name);
      for (let trial = 0; trial < 40; trial++) {
        const damaged = original.slice();
        for (let k = 0; k < 4; k++)
          damaged[Math.floor(random() * damaged.length)] = Math.floor(random() * 256);
        try {
          SentencePieceProcessor.fromBytes(damaged).encode('Hello, world! Café 中文 😀');
        } catch (error) {
          expect(error, `${name} trial ${trial}`).toBeInstanceOf(TokenizerError);
        }
      }
    }
  });
});

describe('marianTokenizer', () => {
  let tokenizer: MarianTokenizer;
  const references = new Map<ModelName, CppSentencePiece>();
  beforeAll(async () => {
    tokenizer = marianTokenizer({
      sourceSpm: spmBytes('source'),
      targetSpm: spmBytes('target'),
      vocab: VOCAB,
      eosId: 0,
      padId: VOCAB['<pad>'],
      unkId: 1,
    });
    for (const name of ['source', 'target'] as const) {
      const cpp = new CppSentencePieceProcessor();
      await cpp.load(spmPath(name));
      references.set(name, cpp);
    }
  });

  /** MarianTokenizer's recipe on the C++ pieces: vocab.json ids, <unk> when absent, then </s>. */
  function referenceIds(name: ModelName, text: string, vocab = VOCAB): number[] {
    const pieces = (references.get(name) as CppSentencePiece).encodePieces(text);
    return [...pieces.map((piece) => vocab[piece] ?? vocab['<unk>']), vocab['</s>']];
  }

  it('implements the Tokenizer interface', () => {
    expect(tokenizer.kind).toBe('marian');
    expect(tokenizer.vocabSize).toBe(Object.keys(VOCAB).length);
    expect([tokenizer.eosId, tokenizer.unkId, tokenizer.padId]).toEqual([0, 1, 1221]);
  });

  it('encodes source text with source.spm and target text with target.spm, ending in </s>', () => {
    const random = seededRandom(5);
    const texts = [...HAND_PICKED, ...SAMPLE_TEXTS];
    for (let i = 0; i < 200; i++) texts.push(randomUnicodeString(random, 30));
    for (const text of texts) {
      expect(tokenizer.encode(text), JSON.stringify(text)).toEqual(referenceIds('source', text));
      expect(tokenizer.encodeTarget(text), JSON.stringify(text)).toEqual(
        referenceIds('target', text),
      );
    }
    // Hand-checked: the two sides differ where their normalisation does.
    expect(tokenizer.encode('')).toEqual([0]);
    expect(tokenizer.encode('ｆｕｌｌ')).toEqual([VOCAB['▁full'], 0]);
    expect(tokenizer.encodeTarget('ｆｕｌｌ')).toEqual([VOCAB['▁'], 1, 0]);
    expect(tokenizer.encode('the king')).toEqual([VOCAB['▁the'], VOCAB['▁king'], 0]);
    expect(tokenizer.encodeTarget('[NAME]')).toEqual([VOCAB['▁'], VOCAB['[NAME]'], 0]);
  });

  it('maps a piece that vocab.json lacks to <unk>, and literal special-token text stays text', () => {
    const vocab = { ...VOCAB };
    delete vocab['▁the'];
    const reduced = marianTokenizer({
      sourceSpm: spmBytes('source'),
      targetSpm: spmBytes('target'),
      vocab,
    });
    expect(reduced.encode('the king')).toEqual([1, VOCAB['▁king'], 0]);
    expect(reduced.encode('the the')).toEqual(referenceIds('source', 'the the', vocab));
    expect(tokenizer.encode('</s>').slice(0, -1)).not.toContain(0);
  });

  it('keeps a leading language code as one token', () => {
    const hello = tokenizer.encode('Hello');
    expect(tokenizer.encode('>>fra<< Hello')).toEqual([2, ...hello]);
    expect(tokenizer.encode('>>deu<<Hello')).toEqual([3, ...hello]);
    expect(tokenizer.encode('>>xyz<< Hello')).toEqual([1, ...hello]);
    expect(tokenizer.encode('Hello >>fra<<')).toEqual(referenceIds('source', 'Hello >>fra<<'));
  });

  it('decodes back to the normalised text, special tokens left out', () => {
    const line = 'First Citizen:\n  Before we proceed any further, hear me speak.  ';
    const ids = tokenizer.encodeTarget(line);
    expect(tokenizer.decode(ids)).toBe(
      'First Citizen: Before we proceed any further, hear me speak.',
    );
    expect(tokenizer.decode([tokenizer.padId, ...ids, tokenizer.eosId])).toBe(
      tokenizer.decode(ids),
    );
    expect(tokenizer.decode(tokenizer.encode('  ｆｕｌｌ   ﬁne '))).toBe('full fine');
    // Unknown characters are lost, as with skip_special_tokens in Hugging Face.
    expect(tokenizer.decode(tokenizer.encode('a ✓✓ b'))).toBe('a  b');
    expect(tokenizer.decode([])).toBe('');

    const target = SentencePieceProcessor.fromBytes(spmBytes('target'));
    const random = seededRandom(9);
    for (let i = 0; i < 200; i++) {
      const text = pieceSoup(target, random, 1 + Math.floor(random() * 20));
      const expected = target
        .normalize(text)
        .replace(/\u2581/g, ' ')
        .trim();
      expect(tokenizer.decode(tokenizer.encodeTarget(text)), JSON.stringify(text)).toBe(expected);
    }
  });

  it('shows pieces readably', () => {
    expect(tokenizer.piece(VOCAB['▁the'])).toBe(' the');
    expect(tokenizer.piece(VOCAB[','])).toBe(',');
    expect(tokenizer.piece(0)).toBe('</s>');
    expect(tokenizer.piece(1)).toBe('<unk>');
    expect(tokenizer.piece(VOCAB['<pad>'])).toBe('<pad>');
    expect(tokenizer.piece(2)).toBe('>>fra<<');
  });

  it('throws TokenizerError for ids outside the vocabulary and for bad files', () => {
    expect(() => tokenizer.decode([tokenizer.vocabSize])).toThrow(TokenizerError);
    expect(() => tokenizer.decode([-1])).toThrow(TokenizerError);
    expect(() => tokenizer.piece(1.5)).toThrow(TokenizerError);
    const sourceSpm = spmBytes('source');
    const targetSpm = spmBytes('target');
    const withHole = { ...VOCAB, '<pad>': 5000 };
    expect(() =>
      marianTokenizer({ sourceSpm, targetSpm, vocab: withHole, vocabSize: 5001 }).decode([4000]),
    ).toThrow(
      expect.objectContaining({
        code: 'bad-id',
        message: 'token id 4000 is not in vocab.json (Marian)',
      }),
    );
    expect(() =>
      marianTokenizer({ sourceSpm, targetSpm, vocab: withHole, vocabSize: 1222 }),
    ).toThrow(/the id of "<pad>" must be an integer in \[0, 1222\) \(vocab_size\), but it is 5000/);
    // Without config.json's vocab_size, an id of 1e9 still sizes nothing.
    expect(marianTokenizer({ sourceSpm, targetSpm, vocab: { ...VOCAB, x: 1e9 } }).vocabSize).toBe(
      1e9 + 1,
    );
    const noUnk = { ...VOCAB };
    delete noUnk['<unk>'];
    expect(() => marianTokenizer({ sourceSpm, targetSpm, vocab: noUnk })).toThrow(/no "<unk>"/);
    expect(() => marianTokenizer({ sourceSpm, targetSpm, vocab: { ...VOCAB, extra: 5 } })).toThrow(
      /share id 5/,
    );
    // Refused before any table is sized by them (an id of 1e9 once allocated a billion slots).
    for (const id of [-1, 1.5, 1300, 1e9, 2 ** 32, 1e300, '7', null]) {
      const err = (() => {
        try {
          marianTokenizer({
            sourceSpm,
            targetSpm,
            vocab: { ...VOCAB, x: id as number },
            vocabSize: 1300,
          });
        } catch (e) {
          return e as TokenizerError;
        }
        throw new Error(`id ${String(id)} was accepted`);
      })();
      expect(err).toBeInstanceOf(TokenizerError);
      expect(err.code).toBe('bad-file');
      expect(err.message).toBe(
        `vocab.json (Marian): the id of "x" must be an integer in [0, 1300) (vocab_size), but it is ${JSON.stringify(id)}`,
      );
    }
    expect(() => marianTokenizer({ sourceSpm, targetSpm, vocab: {} })).toThrow(/is empty/);
    expect(() => marianTokenizer({ sourceSpm, targetSpm, vocab: VOCAB, eosId: 99999 })).toThrow(
      /eosId 99999 is outside/,
    );
    expect(() =>
      marianTokenizer({ sourceSpm: targetSpm.subarray(0, 100), targetSpm, vocab: VOCAB }),
    ).toThrow(/^source.spm: /);
    expect(() =>
      marianTokenizer({ sourceSpm, targetSpm: new Uint8Array(3), vocab: VOCAB }),
    ).toThrow(TokenizerError);
  });
});
