/**
 * Issue 14's bugs, the pure logic behind each fix (the e2e regressions are in
 * tests/e2e/ux-bugs.test.ts): the text generation writes (bug 1), when "generate" is blocked
 * (bug 4), drag versus click and the labelled range of a zoomed heatmap (bugs 6, 7), the
 * keyboard cell cursor (bug 10), and the models' examples (the first screen).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CharsTokenizer, tokenizerFromJson } from '../../src/model/tokenizer';
import { LAB_TOKENIZER_FILE } from '../../src/model/tokenizer/forCheckpoint';
import { generatedText } from '../../src/workers/session';
import { generateBlocked } from '../../src/ui/lib/generation';
import {
  labelledRange,
  moveCursor,
  pressAt,
  pressMoved,
  revealCell,
} from '../../src/ui/lib/layout';
import { exampleView, showsExample } from '../../src/ui/lib/examples';

const LM = join(import.meta.dirname, '..', '..', 'public', 'models', 'lm-prenorm');

describe('generated text (bug 1)', () => {
  const bpe = tokenizerFromJson(JSON.parse(readFileSync(join(LM, LAB_TOKENIZER_FILE), 'utf8')));

  it('decodes byte pieces together and holds back a character still missing bytes', () => {
    const prompt = bpe.encode('First Citizen:');
    const arrow = bpe.encode('→');
    // The arrow is three bytes; this vocabulary has no token for it, so each is a piece of its own.
    expect(arrow.map((id) => bpe.piece(id))).toEqual(['<0xE2>', '<0x86>', '<0x92>']);
    const after = (n: number) => generatedText(bpe, prompt, [...prompt, ...arrow.slice(0, n)]);
    expect(after(1)).toBe('');
    expect(after(2)).toBe('');
    expect(after(3)).toBe('→');
  });

  it('writes a newline, not its display symbol', () => {
    const prompt = bpe.encode('First Citizen:');
    const ids = bpe.encode('First Citizen:\nAnd,\n');
    expect(ids.slice(0, prompt.length)).toEqual(prompt);
    expect(
      ids
        .slice(prompt.length)
        .map((id) => bpe.piece(id))
        .join(''),
    ).toContain('↵');
    expect(generatedText(bpe, prompt, ids)).toBe('\nAnd,\n');
  });

  it('cuts the prompt off the whole decoded text (special tokens included) and types ids without a tokenizer', () => {
    const chars = CharsTokenizer.fromJson({
      type: 'chars',
      alphabet: [...'0123456789-'],
      special_tokens: { '<pad>': 0, '<s>': 1, '</s>': 2 },
    });
    const prompt = [1, ...chars.encode('1999-0')];
    expect(generatedText(chars, prompt, [...prompt, ...chars.encode('3-')])).toBe('3-');
    expect(generatedText(null, [5, 6], [5, 6, 7, 12])).toBe(' 7 12');
  });
});

describe('"generate" blocked (bug 4), with the reason shown', () => {
  it('at a full context, and once the model ends the text', () => {
    expect(generateBlocked(63, 64, { text: '', ended: false })).toBeNull();
    expect(generateBlocked(64, 64, { text: '', ended: false })).toMatch(/context is full.*64/);
    expect(generateBlocked(10, 64, { text: '-03', ended: true })).toMatch(/ended the text/);
    expect(generateBlocked(10, 64, null)).toBeNull();
  });
});

describe('zoomed heatmaps (bugs 6, 7, 10)', () => {
  it('treats a press as a click until it leaves the slop circle, then as a drag for good', () => {
    let p = pressAt(100, 100);
    p = pressMoved(p, 102, 101);
    expect(p.dragged).toBe(false);
    p = pressMoved(p, 130, 100);
    expect(p.dragged).toBe(true);
    // Back where it started: still a pan (the bug: the release compared with the last move only).
    expect(pressMoved(p, 100, 100).dragged).toBe(true);
  });

  it('labels only the cells whose centre is in view', () => {
    // Cells of 20 px on screen, shifted by 35 px: centres at 20i − 25, so cell 1's (−5) is out of
    // view and cell 6's (95) in it.
    expect(labelledRange(-35, 2, 100, 10, 8)).toEqual([2, 6]);
    // Shifted by 25 px: cell 6's centre at 105, past the 100 px view, though the cell shows in part.
    expect(labelledRange(-25, 2, 100, 10, 8)).toEqual([1, 5]);
    expect(labelledRange(0, 1, 40, 10, 8)).toEqual([0, 3]);
  });

  it('moves a cell cursor with the keys, inside the matrix', () => {
    // The first key shows the cursor at its start (the selected query row).
    expect(moveCursor(null, 'ArrowDown', 4, 5, { row: 2, col: 0 })).toEqual({ row: 2, col: 0 });
    expect(moveCursor({ row: 2, col: 0 }, 'ArrowDown', 4, 5)).toEqual({ row: 3, col: 0 });
    expect(moveCursor({ row: 3, col: 0 }, 'ArrowDown', 4, 5)).toEqual({ row: 3, col: 0 });
    expect(moveCursor({ row: 3, col: 0 }, 'ArrowLeft', 4, 5)).toEqual({ row: 3, col: 0 });
    expect(moveCursor({ row: 3, col: 1 }, 'End', 4, 5)).toEqual({ row: 3, col: 4 });
    expect(moveCursor({ row: 3, col: 4 }, 'PageUp', 4, 5)).toEqual({ row: 0, col: 4 });
    expect(moveCursor({ row: 0, col: 0 }, 'x', 4, 5)).toBeNull();
    expect(moveCursor(null, 'ArrowUp', 0, 0)).toBeNull();
  });

  it('pans a zoomed view just enough to show the cursor', () => {
    const t = { k: 2, x: 0, y: 0 };
    // Cell (0, 6) spans 120–140 px on screen, past a 100 px view: shift left by 40.
    expect(revealCell(t, { row: 0, col: 6 }, 10, 10, 100, 100)).toEqual({ k: 2, x: -40, y: 0 });
    expect(revealCell({ k: 2, x: -40, y: 0 }, { row: 1, col: 1 }, 10, 10, 100, 100)).toEqual({
      k: 2,
      x: -20,
      y: 0,
    });
    expect(revealCell(t, { row: 1, col: 1 }, 10, 10, 100, 100)).toEqual(t);
  });
});

describe('model examples (the first screen)', () => {
  const example = { source: 'March 3, 1999', text: '1999-0', head: 'd1.0x', query: 6 };

  it('turns into the input, head and query of the view', () => {
    expect(exampleView(example)).toEqual({
      text: '1999-0',
      sourceText: 'March 3, 1999',
      focus: { stack: 'decoder', layer: 1, head: 0, kind: 'cross' },
      query: 6,
    });
    expect(exampleView({ text: 'ab', head: 'nonsense', query: 0 })).toEqual({
      text: 'ab',
      focus: null,
      query: 0,
    });
  });

  it('knows when the input is still the example', () => {
    expect(showsExample(example, { text: '1999-0', sourceText: 'March 3, 1999' })).toBe(true);
    expect(showsExample(example, { text: '1999-0', sourceText: '5 May 2001' })).toBe(false);
    // A decoder-only example says nothing of the source.
    expect(
      showsExample({ text: 'ab', head: 'd0.0', query: 1 }, { text: 'ab', sourceText: 'x' }),
    ).toBe(true);
    expect(showsExample(undefined, { text: 'ab', sourceText: '' })).toBe(false);
  });
});
