/** Turning token text into something a person can read in a panel: no invisible characters. */

const SHOWN_AS: Record<string, string> = { '\n': '↵', '\t': '⇥', '\r': '␍', '\x7f': '␡' };

/** Newlines, tabs and other control characters become visible symbols (Unicode "control pictures"). */
export function readableText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f]/g, (c) =>
    c in SHOWN_AS ? SHOWN_AS[c] : String.fromCharCode(0x2400 + c.charCodeAt(0)),
  );
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Length of the UTF-8 sequence a lead byte starts, or 0 when the byte cannot start one. */
function utf8SequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

function hexByte(byte: number): string {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/**
 * Readable text of a token's bytes. A byte-level token may hold only part of a UTF-8 character
 * (an emoji is often split over several tokens): those bytes are shown as `<0xF0>` instead of
 * being hidden behind U+FFFD.
 */
export function readableBytes(bytes: Uint8Array): string {
  try {
    return readableText(strictUtf8.decode(bytes));
  } catch {
    // Not valid UTF-8 as a whole: decode character by character.
  }
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const length = utf8SequenceLength(bytes[i]);
    if (length > 0 && i + length <= bytes.length) {
      try {
        out += readableText(strictUtf8.decode(bytes.subarray(i, i + length)));
        i += length;
        continue;
      } catch {
        // An invalid sequence: fall through and show its first byte.
      }
    }
    out += hexByte(bytes[i]);
    i += 1;
  }
  return out;
}

const BYTE_PIECE = /(<0x[0-9A-F]{2}>)/;

interface PendingByte {
  piece: number;
  byte: number;
}

/**
 * The text each piece adds once byte pieces are read as the characters they complete: a byte
 * (SentencePiece's byte fallback `<0xF0>`, or a part of a character in `readableBytes`) shows as
 * nothing until its character is whole, then as that character in the piece that completes it.
 * Bytes that never make a character stay shown as `<0x…>` in their own piece.
 */
export function completeBytePieces(pieces: readonly string[]): string[] {
  const out = pieces.map(() => '');
  let pending: PendingByte[] = [];
  let need = 0;
  const flushAsHex = () => {
    for (const p of pending) out[p.piece] += hexByte(p.byte);
    pending = [];
  };
  const addByte = (piece: number, byte: number) => {
    if (pending.length > 0 && (byte & 0xc0) !== 0x80) flushAsHex();
    if (pending.length === 0) {
      need = utf8SequenceLength(byte);
      if (need === 0) {
        out[piece] += hexByte(byte);
        return;
      }
    }
    pending.push({ piece, byte });
    if (pending.length < need) return;
    try {
      out[piece] += strictUtf8.decode(new Uint8Array(pending.map((p) => p.byte)));
      pending = [];
    } catch {
      flushAsHex(); // an overlong or surrogate sequence
    }
  };
  pieces.forEach((piece, i) => {
    for (const part of piece.split(BYTE_PIECE)) {
      if (part === '') continue;
      if (BYTE_PIECE.test(part)) addByte(i, parseInt(part.slice(3, 5), 16));
      else {
        flushAsHex();
        out[i] += part;
      }
    }
  });
  flushAsHex();
  return out;
}
