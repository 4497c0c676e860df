import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { BYTE_TO_CHAR, byteCharsToBytes, pretokenize } from '../../src/model/tokenizer/byteLevel';
import { BpeTokenizer, trainBpe, TokenizerError } from '../../src/model/tokenizer/index';
import { randomUnicodeString, SAMPLE_TEXTS, seededRandom } from './tokenizerTestText';

const PROSE = `Attention lets every token look at every earlier token. Each head computes queries,
keys and values; the scores are scaled, masked and turned into probabilities by a softmax.
A tokenizer decides what a token is: a character, a byte, or a piece learned from data by
byte pair encoding, which merges the most frequent adjacent pair again and again. Frequent
words end up as one token, rare words as several pieces, and any text can still be written
with the 256 bytes. Don't worry: we'll train it on Shakespeare's plays, and it's quick.
`;
const TRAINING_TEXT = [PROSE, PROSE.toUpperCase(), ...SAMPLE_TEXTS].join('\n');

/** A token's bytes as a Latin-1 string, so that `<` compares bytes. */
function latin1(byteChars: string): string {
  return String.fromCharCode(...(byteCharsToBytes(byteChars) as Uint8Array));
}

/**
 * Independent reference: recount every pair over all words before every merge, pick the most
 * frequent (ties: left token's bytes, then right token's, in byte order). Slow and plain.
 */
function referenceTraining(text: string, vocabSize: number) {
  const frequencies = new Map<string, number>();
  for (const word of pretokenize(text)) frequencies.set(word, (frequencies.get(word) ?? 0) + 1);
  const words = [...frequencies].map(([word, frequency]) => ({
    word,
    frequency,
    symbols: Array.from(new TextEncoder().encode(word), (byte) => String.fromCharCode(byte)),
  }));
  const vocab = new Set(Array.from({ length: 256 }, (_, byte) => String.fromCharCode(byte)));
  const merges: [string, string][] = [];
  while (vocab.size < vocabSize) {
    const counts = new Map<string, { pair: [string, string]; count: number }>();
    for (const { symbols, frequency } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const pair: [string, string] = [symbols[i], symbols[i + 1]];
        const key = JSON.stringify(pair);
        const entry = counts.get(key) ?? { pair, count: 0 };
        entry.count += frequency;
        counts.set(key, entry);
      }
    }
    let best: { pair: [string, string]; count: number } | null = null;
    for (const entry of counts.values()) {
      const [a, b] = entry.pair;
      if (
        best === null ||
        entry.count > best.count ||
        (entry.count === best.count &&
          (a < best.pair[0] || (a === best.pair[0] && b < best.pair[1])))
      ) {
        best = entry;
      }
    }
    if (best === null) break;
    const [left, right] = best.pair;
    merges.push([left, right]);
    vocab.add(left + right);
    for (const word of words) {
      const merged: string[] = [];
      for (let i = 0; i < word.symbols.length; i++) {
        if (word.symbols[i] === left && word.symbols[i + 1] === right) {
          merged.push(left + right);
          i++;
        } else {
          merged.push(word.symbols[i]);
        }
      }
      word.symbols = merged;
    }
  }
  return { merges, segmentation: new Map(words.map(({ word, symbols }) => [word, symbols])) };
}

describe('byte-level table', () => {
  it("matches GPT-2's bytes_to_unicode at known points", () => {
    expect(BYTE_TO_CHAR[0x20]).toBe('Ġ');
    expect(BYTE_TO_CHAR[0x0a]).toBe('Ċ');
    expect(BYTE_TO_CHAR[0x00]).toBe('Ā');
    expect(BYTE_TO_CHAR[0x7f]).toBe('ġ');
    expect(BYTE_TO_CHAR[0xad]).toBe('Ń');
    expect(BYTE_TO_CHAR[0x41]).toBe('A');
    expect(BYTE_TO_CHAR[0xe9]).toBe('é');
    expect(new Set(BYTE_TO_CHAR).size).toBe(256);
  });

  it('pre-tokenizes like GPT-2 and tiles the text', () => {
    expect(pretokenize("Hello world's  end\n\nok 123abc")).toEqual([
      'Hello',
      ' world',
      "'s",
      ' ',
      ' end',
      '\n',
      '\n',
      'ok',
      ' 123',
      'abc',
    ]);
    const random = seededRandom(7);
    for (let i = 0; i < 200; i++) {
      const text = randomUnicodeString(random, 40);
      expect(pretokenize(text).join('')).toBe(text);
    }
  });
});

describe('BPE training', () => {
  it('learns the hand-counted merges of a tiny corpus, ties in byte order', () => {
    // Words: low x1, " low" x4, " lower" x2, " newest" x6, " widest" x3.
    const corpus =
      'low low low low low lower lower newest newest newest newest newest newest widest widest widest';
    const tokenizer = trainBpe(corpus, { vocabSize: 1000 });
    // "es" and "st" both occur 9 times: "e" < "s" decides. Then "lo"/"ow" tie at 7, and so on.
    expect(tokenizer.toJSON().merges).toEqual([
      ['e', 's'],
      ['es', 't'],
      ['l', 'o'],
      ['lo', 'w'],
      ['Ġ', 'low'],
      ['Ġ', 'n'],
      ['Ġn', 'e'],
      ['Ġne', 'w'],
      ['Ġnew', 'est'],
      ['Ġ', 'w'],
      ['Ġw', 'i'],
      ['Ġwi', 'd'],
      ['Ġwid', 'est'],
      ['Ġlow', 'e'],
      ['Ġlowe', 'r'],
    ]);
    // Every word is one token now, so training stopped short of the requested size.
    expect(tokenizer.vocabSize).toBe(256 + 15);
    expect(tokenizer.encode(' newest lower').map((id) => tokenizer.piece(id))).toEqual([
      ' newest',
      ' lower',
    ]);
  });

  it('agrees with a plain recount-every-pair reference, merges and segmentation', () => {
    const vocabSize = 256 + 200;
    const tokenizer = trainBpe(TRAINING_TEXT, { vocabSize });
    const reference = referenceTraining(TRAINING_TEXT, vocabSize);
    const { vocab, merges } = tokenizer.toJSON();
    expect(merges.map(([left, right]) => [latin1(left), latin1(right)])).toEqual(reference.merges);
    expect(tokenizer.vocabSize).toBe(vocabSize);
    // Encoding a training word gives the split training ended with.
    for (const [word, symbols] of reference.segmentation) {
      expect(tokenizer.encode(word).map((id) => latin1(vocab[id]))).toEqual(symbols);
    }
  });

  it('does not depend on the order words appear in', () => {
    // Words of a space and letters pre-tokenize the same however they are ordered.
    const words = pretokenize(TRAINING_TEXT).filter((word) => /^ \p{L}+$/u.test(word));
    const shuffled = [...words];
    const random = seededRandom(3);
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    expect(shuffled).not.toEqual(words);
    const a = trainBpe(words.join(''), { vocabSize: 400 });
    const b = trainBpe(shuffled.join(''), { vocabSize: 400 });
    expect(a.vocabSize).toBe(400);
    expect(b.toJSON()).toEqual(a.toJSON());
  });

  it('appends special tokens after the merges and reaches the requested size exactly', () => {
    const tokenizer = trainBpe(TRAINING_TEXT, {
      vocabSize: 300,
      specialTokens: ['<|endoftext|>', '<pad>'],
    });
    const json = tokenizer.toJSON();
    expect(tokenizer.vocabSize).toBe(300);
    expect(json.vocab).toHaveLength(300);
    expect(json.merges).toHaveLength(300 - 256 - 2);
    expect(json.special_tokens).toEqual({ '<|endoftext|>': 298, '<pad>': 299 });
    expect(tokenizer.eosId).toBe(298);
    expect(tokenizer.piece(298)).toBe('<|endoftext|>');
    expect(tokenizer.decode([...tokenizer.encode('a'), 298])).toBe('a<|endoftext|>');
    // The text of a special token is ordinary text to encode.
    expect(tokenizer.encode('x <|endoftext|> y')).not.toContain(298);
  });

  it('reports progress once per merge', () => {
    const seen: number[] = [];
    const tokenizer = trainBpe(TRAINING_TEXT, {
      vocabSize: 280,
      onProgress: ({ merges }) => seen.push(merges),
    });
    expect(seen).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    expect(tokenizer.vocabSize).toBe(280);
  });

  it('rejects impossible sizes and bad special tokens', () => {
    expect(() => trainBpe('abc', { vocabSize: 255 })).toThrow(TokenizerError);
    expect(() => trainBpe('abc', { vocabSize: 256.5 })).toThrow(/integer/);
    expect(() => trainBpe('abc', { vocabSize: 257, specialTokens: ['<a>', '<b>'] })).toThrow(
      /256 bytes \+ 2 special tokens/,
    );
    expect(() => trainBpe('abc', { vocabSize: 300, specialTokens: ['<a>', '<a>'] })).toThrow(
      /distinct/,
    );
  });

  it('with no merges is a plain byte tokenizer', () => {
    const tokenizer = trainBpe('', { vocabSize: 256 });
    expect(tokenizer.vocabSize).toBe(256);
    expect(tokenizer.encode('aé')).toEqual([0x61, 0xc3, 0xa9]);
    expect(tokenizer.decode([0x61, 0xc3, 0xa9])).toBe('aé');
  });
});

describe('BPE encoding', () => {
  let tokenizer: BpeTokenizer;
  beforeAll(() => {
    tokenizer = trainBpe(TRAINING_TEXT, { vocabSize: 600, specialTokens: ['<|endoftext|>'] });
  });

  it('round-trips random Unicode and the samples, with ids inside the vocabulary', () => {
    const random = seededRandom(42);
    const texts = [
      ...SAMPLE_TEXTS,
      ...Array.from({ length: 500 }, () => randomUnicodeString(random, 60)),
    ];
    for (const text of texts) {
      const ids = tokenizer.encode(text);
      const outside = ids.filter((id) => !(Number.isInteger(id) && id >= 0 && id < 600 - 1));
      expect(outside, JSON.stringify(text)).toEqual([]);
      expect(tokenizer.decode(ids)).toBe(text);
    }
    expect(tokenizer.encode('')).toEqual([]);
    expect(tokenizer.decode([])).toBe('');
  });

  it('gives repeated words the same ids (cache) and compresses the text it learned from', () => {
    const first = tokenizer.encode(' attention attention');
    expect(first.slice(0, first.length / 2)).toEqual(first.slice(first.length / 2));
    const bytes = new TextEncoder().encode(PROSE).length;
    expect(tokenizer.encode(PROSE).length).toBeLessThan(bytes / 2);
  });

  it('turns a lone surrogate into U+FFFD, as UTF-8 must', () => {
    expect(tokenizer.decode(tokenizer.encode('a\ud800b'))).toBe('a\ufffdb');
  });

  it('shows pieces readably', () => {
    const pieces = tokenizer.encode(' token\n\tend').map((id) => tokenizer.piece(id));
    expect(pieces.join('')).toBe(' token↵⇥end');
    expect(pieces[0]).toBe(' token');
    expect(tokenizer.piece(0xe2)).toBe('<0xE2>');
    expect(tokenizer.piece(0x00)).toBe('␀');
    expect(() => tokenizer.piece(tokenizer.vocabSize)).toThrow(TokenizerError);
    expect(() => tokenizer.decode([1, -1])).toThrow(/outside the vocabulary/);
    expect(() => tokenizer.decode([0.5])).toThrow(TokenizerError);
  });

  it('explains splits from bytes to the encoded pieces, one merge rule per step', () => {
    const random = seededRandom(9);
    const words = [
      ' tokenizer',
      'Attention',
      " don't",
      ' 😀',
      '',
      'two words',
      ...Array.from({ length: 50 }, () => randomUnicodeString(random, 12)),
    ];
    for (const word of words) {
      const steps = tokenizer.explain(word);
      const bytes = Array.from(new TextEncoder().encode(word), (byte) => tokenizer.piece(byte));
      expect(steps[0]).toEqual(bytes);
      expect(steps.at(-1)).toEqual(tokenizer.encode(word).map((id) => tokenizer.piece(id)));
      for (let i = 1; i < steps.length; i++) {
        expect(steps[i].length).toBeLessThan(steps[i - 1].length);
      }
    }
    const steps = tokenizer.explain(' tokenizer');
    for (const step of steps) expect(step.join('')).toBe(' tokenizer');
    expect(steps.length).toBeGreaterThan(2);
  });

  it('survives a JSON round trip unchanged', () => {
    const json = JSON.parse(JSON.stringify(tokenizer.toJSON())) as unknown;
    const reloaded = BpeTokenizer.fromJson(json);
    expect(reloaded.toJSON()).toEqual(tokenizer.toJSON());
    expect(reloaded.encode(PROSE)).toEqual(tokenizer.encode(PROSE));
    expect(reloaded.eosId).toBe(tokenizer.eosId);
  });
});

const CORPUS = fileURLToPath(new URL('../../../shared/data/tinyshakespeare.txt', import.meta.url));

describe.skipIf(!existsSync(CORPUS))('BPE on a slice of Tiny Shakespeare', () => {
  const slice = existsSync(CORPUS) ? readFileSync(CORPUS, 'utf8').slice(0, 200_000) : '';

  it('trains deterministically: two trainings give identical JSON', () => {
    const options = { vocabSize: 1024, specialTokens: ['<|endoftext|>'] };
    const a = JSON.stringify(trainBpe(slice, options));
    const b = JSON.stringify(trainBpe(slice, options));
    expect(b).toBe(a);
  });

  it('round-trips the slice and compresses it', () => {
    const tokenizer = trainBpe(slice, { vocabSize: 1024 });
    const ids = tokenizer.encode(slice);
    expect(tokenizer.decode(ids)).toBe(slice);
    expect(Math.max(...ids)).toBeLessThan(1024);
    expect(slice.length / ids.length).toBeGreaterThan(2.5);
  });
});
