import { describe, expect, it } from 'vitest';
import { BYTE_TO_CHAR } from '../../src/model/tokenizer/byteLevel';
import { tokenizerFromJson, TokenizerError } from '../../src/model/tokenizer/index';

/** The smallest useful byte-bpe file: 256 bytes, one merge "a"+"b", end-of-text. */
function validBpe() {
  return {
    type: 'byte-bpe',
    vocab: [...BYTE_TO_CHAR, 'ab', '<|endoftext|>'],
    merges: [['a', 'b']],
    special_tokens: { '<|endoftext|>': 257 },
    pretokenizer: 'gpt2',
  };
}

function expectLoadError(json: unknown, message: RegExp): void {
  let error: unknown = null;
  try {
    tokenizerFromJson(json);
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(TokenizerError);
  expect((error as Error).message).toMatch(message);
}

describe('tokenizerFromJson', () => {
  it('loads a byte-bpe file and uses it', () => {
    const tokenizer = tokenizerFromJson(validBpe());
    expect(tokenizer.kind).toBe('bpe');
    expect(tokenizer.vocabSize).toBe(258);
    expect(tokenizer.eosId).toBe(257);
    expect(tokenizer.encode('abc ba')).toEqual([256, 99, 32, 98, 97]);
    expect(tokenizer.explain?.('abab')).toEqual([
      ['a', 'b', 'a', 'b'],
      ['ab', 'ab'],
    ]);
  });

  it('rejects what is not a tokenizer file', () => {
    expectLoadError(null, /expected a JSON object/);
    expectLoadError([1, 2], /expected a JSON object/);
    expectLoadError('byte-bpe', /expected a JSON object/);
    expectLoadError({ vocab: [] }, /"type" must be "byte-bpe" or "chars" .*, but it is missing/);
    expectLoadError(
      { type: 'wordpiece' },
      /"type" must be "byte-bpe" or "chars" .*, but it is "wordpiece"/,
    );
  });

  it('names what is broken in a byte-bpe file', () => {
    const broken = (change: (json: ReturnType<typeof validBpe>) => void) => {
      const json = validBpe();
      change(json);
      return json;
    };
    expectLoadError(
      broken((json) => (json.pretokenizer = 'bert')),
      /"pretokenizer" is "bert"; only "gpt2"/,
    );
    expectLoadError(
      broken((json) => delete (json as Partial<typeof json>).vocab),
      /"vocab" must be an array/,
    );
    expectLoadError(
      broken((json) => (json.vocab[3] = 7 as unknown as string)),
      /"vocab"\[3\] must be a non-empty string/,
    );
    expectLoadError(
      broken((json) => (json.vocab[256] = 'a')),
      /vocab\[256\] repeats vocab\[97\] "a"/,
    );
    expectLoadError(
      broken((json) => (json.vocab[256] = 'a b')),
      /vocab\[256\] "a b" has a character that is not one of the 256 byte characters/,
    );
    expectLoadError(
      broken((json) => (json.vocab[32] = 'xy')),
      /lacks the single-byte token "Ġ" \(byte 32\)/,
    );
    expectLoadError(
      broken((json) => (json.merges = [['a', 'c']])),
      /merges\[0\] uses "ac", not in the vocabulary/,
    );
    expectLoadError(
      broken(
        (json) =>
          (json.merges = [
            ['a', 'b'],
            ['a', 'b'],
          ]),
      ),
      /merges\[1\] repeats "a" \+ "b"/,
    );
    expectLoadError(
      broken((json) => (json.merges = [['a', 'b', 'c']] as unknown as [string, string][])),
      /merges\[0\] must be a pair of non-empty strings/,
    );
    expectLoadError(
      broken((json) => (json.merges = {} as unknown as [string, string][])),
      /"merges" must be an array/,
    );
    expectLoadError(
      broken((json) => (json.special_tokens = { '<|endoftext|>': 256 })),
      /special token "<\|endoftext\|>" has id 256 but vocab\[256\] is "ab"/,
    );
    expectLoadError(
      broken((json) => (json.special_tokens = { '<|endoftext|>': 258 })),
      /the id of special token "<\|endoftext\|>" must be an integer in \[0, 258\), but it is 258/,
    );
    expectLoadError(
      broken((json) => (json.special_tokens = { '<|endoftext|>': 1.5 })),
      /must be an integer in \[0, 258\), but it is 1\.5/,
    );
  });

  it('loads a chars file', () => {
    const tokenizer = tokenizerFromJson({
      type: 'chars',
      alphabet: ['0', '1', '-'],
      special_tokens: { '<pad>': 0, '<s>': 1, '</s>': 2 },
    });
    expect(tokenizer.kind).toBe('chars');
    expect(tokenizer.vocabSize).toBe(6);
    expect(tokenizer.encode('10-')).toEqual([4, 3, 5]);
  });
});
