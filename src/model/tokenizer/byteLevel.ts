/**
 * The byte level shared by GPT-2-style tokenizers: the pre-tokenizer regex and the table that
 * gives each of the 256 bytes a printable character, so that a token's bytes can be stored as a
 * string ('Ġ' is the space byte).
 */

/**
 * GPT-2's pre-tokenizer: contractions, letters, numbers, other symbols (each optionally after one
 * space), then whitespace runs, where a run before a word leaves its last space to that word.
 * Every character falls into some branch, so the matches tile the text.
 */
export const GPT2_PRETOKENIZER =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export function pretokenize(text: string): string[] {
  return text.match(GPT2_PRETOKENIZER) ?? [];
}

/** GPT-2's `bytes_to_unicode`: printable bytes stand for themselves, the rest move to U+0100.. */
function buildByteToChar(): string[] {
  const table: string[] = new Array(256);
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) {
    const printable =
      (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || byte >= 0xae;
    table[byte] = String.fromCharCode(printable ? byte : 256 + shifted++);
  }
  return table;
}

export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(
  BYTE_TO_CHAR.map((char, byte) => [char, byte]),
);

export function bytesToByteChars(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += BYTE_TO_CHAR[byte];
  return out;
}

/** Inverse of `bytesToByteChars`; null when a character is not one of the 256. */
export function byteCharsToBytes(text: string): Uint8Array | null {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const byte = CHAR_TO_BYTE.get(text[i]);
    if (byte === undefined) return null;
    bytes[i] = byte;
  }
  return bytes;
}
