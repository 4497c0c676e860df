import { Tiktoken } from 'js-tiktoken/lite';
import r50kRanks from 'js-tiktoken/ranks/r50k_base';
import { beforeAll, describe, expect, it } from 'vitest';
import { gpt2Tokenizer, type Gpt2Tokenizer } from '../../src/model/tokenizer/index';
import { readableText } from '../../src/model/tokenizer/readable';
import { randomUnicodeString, SAMPLE_TEXTS, seededRandom } from './tokenizerTestText';

describe('GPT-2 tokenizer (gpt-tokenizer r50k_base) against js-tiktoken', () => {
  const tiktoken = new Tiktoken(r50kRanks);
  /** js-tiktoken with `<|endoftext|>` as ordinary text, as our encode treats it. */
  const reference = (text: string) => tiktoken.encode(text, [], []);
  let gpt2: Gpt2Tokenizer;
  beforeAll(async () => {
    gpt2 = await gpt2Tokenizer();
  });

  it('has the GPT-2 vocabulary and end-of-text id', () => {
    expect(gpt2.kind).toBe('gpt2');
    expect(gpt2.vocabSize).toBe(50257);
    expect(gpt2.eosId).toBe(50256);
    expect(gpt2.piece(50256)).toBe('<|endoftext|>');
    expect(gpt2.decode([50256])).toBe('<|endoftext|>');
  });

  it('gives identical ids on varied text and decodes it back', () => {
    const long = SAMPLE_TEXTS.join('\n').repeat(20);
    for (const text of [...SAMPLE_TEXTS, long]) {
      expect(gpt2.encode(text), JSON.stringify(text)).toEqual(reference(text));
      expect(gpt2.decode(gpt2.encode(text))).toBe(text);
    }
    expect(gpt2.encode('Hello world')).toEqual([15496, 995]);
    expect(gpt2.encode('<|endoftext|>')).not.toContain(50256);
  });

  it('gives identical ids on random Unicode', () => {
    const random = seededRandom(2024);
    for (let i = 0; i < 300; i++) {
      const text = randomUnicodeString(random, 50);
      expect(gpt2.encode(text), JSON.stringify(text)).toEqual(reference(text));
      expect(gpt2.decode(gpt2.encode(text))).toBe(text);
    }
  });

  it('shows every piece as the text js-tiktoken decodes it to, or its bytes', () => {
    expect(gpt2.piece(262)).toBe(' the');
    expect(gpt2.piece(198)).toBe('↵');
    expect(gpt2.piece(220)).toBe(' ');
    expect(gpt2.piece(188)).toBe('␀');
    let partial = 0;
    for (let id = 0; id < 50256; id++) {
      const piece = gpt2.piece(id);
      const decoded = tiktoken.decode([id]);
      if (/<0x[0-9A-F]{2}>/.test(piece)) {
        // Part of a UTF-8 character: js-tiktoken can only show it as U+FFFD.
        expect(decoded).toContain('\ufffd');
        partial++;
      } else {
        expect(piece).toBe(readableText(decoded));
      }
    }
    expect(partial).toBeGreaterThan(100);
    expect(() => gpt2.piece(50257)).toThrow(/outside the vocabulary/);
    expect(() => gpt2.decode([-1])).toThrow(/outside the vocabulary/);
  });
});
