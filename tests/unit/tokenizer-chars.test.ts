import { describe, expect, it } from 'vitest';
import { CharsTokenizer, tokenizerFromJson, TokenizerError } from '../../src/model/tokenizer/index';

const DATES = ['3 March 2021', 'March 3, 2021', '2021-03-03', '03/03/21', 'Tue 14 Feb 1984'];

describe('character tokenizer', () => {
  const tokenizer = CharsTokenizer.fromTexts(DATES);

  it('gives special tokens their ids and the alphabet the rest, in code point order', () => {
    const json = tokenizer.toJSON();
    expect(json.special_tokens).toEqual({ '<pad>': 0, '<s>': 1, '</s>': 2 });
    expect(json.alphabet.slice(0, 6)).toEqual([' ', ',', '-', '/', '0', '1']);
    expect(tokenizer.vocabSize).toBe(json.alphabet.length + 3);
    expect(tokenizer.encode(' ,-')).toEqual([3, 4, 5]);
    expect(tokenizer.eosId).toBe(2);
    expect(tokenizer.piece(1)).toBe('<s>');
  });

  it('round-trips every text its alphabet covers', () => {
    for (const text of [...DATES, '', '2021 March 3', '1984-02-14']) {
      const ids = tokenizer.encode(text);
      expect(ids).toHaveLength([...text].length);
      expect(ids.every((id) => id >= 3 && id < tokenizer.vocabSize)).toBe(true);
      expect(tokenizer.decode(ids)).toBe(text);
    }
  });

  it('names the character it cannot encode', () => {
    expect(() => tokenizer.encode('3 März 2021')).toThrow(TokenizerError);
    expect(() => tokenizer.encode('3 März 2021')).toThrow(/"ä" \(U\+00E4\)/);
    expect(() => tokenizer.encode('2021\n')).toThrow(/"↵" \(U\+000A\)/);
    expect(() => tokenizer.encode('😀')).toThrow(/U\+1F600/);
    expect(() => tokenizer.decode([tokenizer.vocabSize])).toThrow(/outside the vocabulary/);
  });

  it('treats an astral character as one token and shows control characters readably', () => {
    const emoji = CharsTokenizer.fromJson({
      type: 'chars',
      alphabet: ['😀', 'a', '\n'],
      special_tokens: { '</s>': 3 },
    });
    expect(emoji.encode('a😀\n')).toEqual([1, 0, 2]);
    expect(emoji.decode([1, 0, 2, 3])).toBe('a😀\n</s>');
    expect(emoji.piece(2)).toBe('↵');
    expect(emoji.eosId).toBe(3);
  });

  it('loads through tokenizerFromJson and survives a JSON round trip', () => {
    const reloaded = tokenizerFromJson(JSON.parse(JSON.stringify(tokenizer.toJSON())));
    expect(reloaded.kind).toBe('chars');
    expect(reloaded.encode(DATES[0])).toEqual(tokenizer.encode(DATES[0]));
  });

  it('rejects broken files with the reason', () => {
    const load = (json: unknown) => () => CharsTokenizer.fromJson(json);
    expect(load({ type: 'chars', alphabet: ['ab'] })).toThrow(
      /alphabet\[0\] "ab" is not a single character/,
    );
    expect(load({ type: 'chars', alphabet: ['a', 'a'] })).toThrow(/appears twice/);
    expect(load({ type: 'chars', alphabet: 'abc' })).toThrow(/"alphabet" must be an array/);
    expect(load({ type: 'chars', alphabet: ['a', ''] })).toThrow(/non-empty string/);
    expect(load({ type: 'chars', alphabet: ['a'], special_tokens: { '<s>': 2 } })).toThrow(
      /the id of special token "<s>" must be an integer in \[0, 2\), but it is 2/,
    );
    expect(
      load({ type: 'chars', alphabet: ['a'], special_tokens: { '<s>': 0, '</s>': 0 } }),
    ).toThrow(/share id 0/);
    expect(load({ type: 'chars', alphabet: ['a'], special_tokens: [] })).toThrow(
      /"special_tokens" must be an object/,
    );
    expect(load({ type: 'bpe', alphabet: ['a'] })).toThrow(TokenizerError);
  });
});
