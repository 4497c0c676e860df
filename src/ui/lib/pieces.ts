/**
 * Token pieces made readable on a chip or an axis: whitespace and control characters become
 * visible marks, so " the" and "the" do not look the same and a newline does not break a label.
 */

const MARKS: Record<string, string> = {
  ' ': '·',
  '\u2581': '·',
  '\n': '⏎',
  '\r': '␍',
  '\t': '⇥',
};

export function displayPiece(piece: string): string {
  if (piece.length === 0) return '∅';
  let out = '';
  for (const ch of piece) {
    const cp = ch.codePointAt(0)!;
    if (MARKS[ch]) out += MARKS[ch];
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

/** "id 464 · ' The'" — what a token chip's tooltip says. */
export function pieceTitle(id: number, piece: string): string {
  return `id ${id} · ${JSON.stringify(piece)}`;
}
