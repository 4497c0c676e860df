/** Text the tokenizer tests share: a seeded random Unicode generator and hand-picked samples. */
import { Rng } from '../../src/model/random';

/** Uniform [0, 1) from the project's seeded generator, so failures reproduce. */
export function seededRandom(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

/** [first, last] code point ranges, each a kind of text the tokenizers must survive. */
const RANGES: [number, number][] = [
  [0x20, 0x7e], // ASCII
  [0x20, 0x7e],
  [0x00, 0x1f], // control characters
  [0x7f, 0x9f], // DEL and C1 controls
  [0xc0, 0x17f], // accented Latin
  [0x300, 0x36f], // combining marks
  [0x600, 0x6ff], // Arabic
  [0x660, 0x669], // Arabic-Indic digits
  [0x4e00, 0x9fff], // CJK
  [0xac00, 0xd7a3], // Hangul
  [0x1f300, 0x1faff], // emoji (surrogate pairs in UTF-16)
  [0x10000, 0x10ffff], // any astral code point
  [0x0, 0xd7ff], // any BMP code point before the surrogates
  [0xe000, 0xffff], // any BMP code point after them
];
const SNIPPETS = [
  ' ',
  '  ',
  '\n',
  '\r\n',
  '\t',
  '\u00a0',
  '\u3000',
  '\u200d',
  '\ufe0f',
  "'s",
  "'ll",
  'e\u0301',
];

/** Well-formed UTF-16 (no lone surrogates) of random length up to `maxLength` code points. */
export function randomUnicodeString(random: () => number, maxLength: number): string {
  const length = Math.floor(random() * (maxLength + 1));
  let text = '';
  for (let i = 0; i < length; i++) {
    if (random() < 0.2) {
      text += SNIPPETS[Math.floor(random() * SNIPPETS.length)];
      continue;
    }
    const [first, last] = RANGES[Math.floor(random() * RANGES.length)];
    text += String.fromCodePoint(first + Math.floor(random() * (last - first + 1)));
  }
  return text;
}

export const SAMPLE_TEXTS = [
  '',
  'Hello, world!',
  "I'm sure they'll say it's what we've done; you'd've guessed. DON'T SHOUT'S",
  'The quick brown fox jumps over the lazy dog.\n\nNew paragraph.',
  'function add(a, b) {\n    return a + b; // sum\n}\n\tif (x >= 10 && y !== null) { y++; }',
  'def f(x):\n        return [i ** 2 for i in range(x)]\n',
  'spaces:     five, tabs:\t\t\ttwo, trailing   \n   \n',
  'Numbers 0 1 12 123 1234 3.14159 1,000,000 2024-05-17 -42 1e-9 0x1F',
  'Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️',
  '中文字符和日本語のテキスト、한국어 텍스트',
  'Accents: café naïve résumé Ångström façade, decomposed: cafe\u0301',
  'Arabic: مرحبا بالعالم، Hebrew: שלום עולם',
  'Literal special text: <|endoftext|> should stay text',
  'Control \u0000\u0001\u0007\u001b[31m red \u007f end',
];
