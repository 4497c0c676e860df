/** Regression tests for issue 14's small UI bugs (9, 10, 11, 12), on the pure logic behind them. */
import { describe, expect, it } from 'vitest';
import { scaleLinear } from 'd3';
import { completeBytePieces } from '../../src/model/tokenizer/readable';
import { wordGroups, wordText } from '../../src/ui/lib/words';
import { colourOf, divergingScale, sequentialScale } from '../../src/ui/lib/colour';
import { MASK_BACKGROUND, MASK_STRIPE, rasterise } from '../../src/ui/lib/heatmap';
import { DEFAULT_VIEW, parseView, serializeView, shownTheme } from '../../src/ui/lib/urlState';
import { labelOverhangPx, labelStep, numberTickFormat } from '../../src/ui/lib/chartAxes';
import { groupNotices } from '../../src/ui/lib/notices';
import { backendText } from '../../src/ui/lib/backendText';
import { ownsArrowKeys, isTyping, rovingAfter } from '../../src/ui/lib/keys';

describe('bug 9: byte pieces read as the characters they complete', () => {
  // 😀 is F0 9F 98 80 in UTF-8; é is C3 A9.
  const emoji = ['<0xF0>', '<0x9F>', '<0x98>', '<0x80>'];

  it('shows a character in the piece that completes it, nothing before', () => {
    expect(completeBytePieces(emoji)).toEqual(['', '', '', '😀']);
    expect(completeBytePieces(['▁caf', '<0xC3>', '<0xA9>', '!'])).toEqual(['▁caf', '', 'é', '!']);
    // readableBytes spells a split character inside a piece: ' <0xF0>' then '<0x9F><0x98><0x80>'.
    expect(completeBytePieces([' <0xF0>', '<0x9F><0x98><0x80>x'])).toEqual([' ', '😀x']);
    expect(completeBytePieces(['<0x0A>'])).toEqual(['\n']);
  });

  it('keeps bytes that never make a character as hex, in their own piece', () => {
    expect(completeBytePieces(['<0xF0>', 'a', '<0x80>'])).toEqual(['<0xF0>', 'a', '<0x80>']);
    expect(completeBytePieces(['<0xE2>', '<0x86>'])).toEqual(['<0xE2>', '<0x86>']);
    expect(completeBytePieces(['<0xC0>', '<0x80>'])).toEqual(['<0xC0>', '<0x80>']); // overlong
    expect(completeBytePieces(['<unk>', '</s>'])).toEqual(['<unk>', '</s>']);
  });

  it('word mode joins byte tokens to their word and shows the character', () => {
    const pieces = ['▁hi', ...emoji, '▁caf', '<0xC3>', '<0xA9>', '</s>'];
    const groups = wordGroups(pieces);
    expect(groups).toEqual([[0, 1, 2, 3, 4], [5, 6, 7], [8]]);
    expect(groups.map((g) => wordText(pieces, g))).toEqual(['▁hi😀', '▁café', '</s>']);
    // A space byte starts a word as a space piece does.
    expect(wordGroups(['a', '<0x20>', 'b'])).toEqual([[0], [1, 2]]);
  });
});

describe('bug 11: raw scores show masked cells', () => {
  const masked = (scale: ReturnType<typeof sequentialScale>, value: number) => {
    const r = rasterise({ values: [value], rows: 1, cols: 1, scale, mask: [0], cellPx: 8 });
    const shades = new Set<string>();
    for (let i = 0; i < r.data.length; i += 4)
      shades.add(Array.from(r.data.subarray(i, i + 3)).join(','));
    return shades;
  };

  it('draws a masked score in its colour under the mask stripes', () => {
    const scale = divergingScale([-4, 4]);
    expect(masked(scale, 3)).toEqual(
      new Set([colourOf(scale, 3).join(','), MASK_STRIPE.join(',')]),
    );
    expect(masked(scale, -3)).toEqual(
      new Set([colourOf(scale, -3).join(','), MASK_STRIPE.join(',')]),
    );
  });

  it('still hides masked probabilities, and a score that is not finite', () => {
    const grey = new Set([MASK_BACKGROUND.join(','), MASK_STRIPE.join(',')]);
    expect(masked(sequentialScale(), 0)).toEqual(grey);
    expect(masked(divergingScale([-4, 4]), -Infinity)).toEqual(grey);
  });
});

describe('bug 12: theme, chart axes, links, notices, backend badge', () => {
  it('follows the OS colour scheme until the user picks a theme', () => {
    expect(parseView('').theme).toBe('system');
    expect(shownTheme('system', true)).toBe('dark');
    expect(shownTheme('system', false)).toBe('light');
    expect(shownTheme('light', true)).toBe('light');
    expect(shownTheme('dark', false)).toBe('dark');
    expect(parseView('#theme=light').theme).toBe('light');
    expect(serializeView({ ...DEFAULT_VIEW, theme: 'light' })).toBe('theme=light');
    expect(serializeView(DEFAULT_VIEW)).toBe('');
  });

  it('writes the source text only for models that read one', () => {
    const v = { ...DEFAULT_VIEW, text: 'hi', sourceText: 'March 3, 1999' };
    expect(serializeView(v, false)).toBe('text=hi');
    expect(parseView('#' + serializeView(v)).sourceText).toBe('March 3, 1999');
  });

  it('writes y ticks in plain decimals, never "2e+1"', () => {
    const y = scaleLinear().domain([0, 40]);
    const fmt = numberTickFormat(y, 5, false);
    expect(y.ticks(5).map(fmt)).toEqual(['0', '10', '20', '30', '40']);
    const small = scaleLinear().domain([0, 0.03]);
    expect(small.ticks(3).map(numberTickFormat(small, 3, false))).toEqual([
      '0',
      '0.01',
      '0.02',
      '0.03',
    ]);
  });

  it('thins x labels until they do not overlap, and leaves room for the ends', () => {
    const labels = Array.from({ length: 12 }, (_, i) => `${i} after-residual`);
    const step = labelStep(labels, 25);
    expect(step * 25).toBeGreaterThanOrEqual(labels[0].length * 6);
    expect(labelStep(labels, 25)).toBeGreaterThan(1);
    expect(labelStep(['a', 'b', 'c'], 40)).toBe(1);
    expect(labelOverhangPx('3 after-residual')).toBeGreaterThan(40);
  });

  it('collapses repeated notices into one with a count, newest first', () => {
    const failed = { id: 1, level: 'error', text: 'load failed' };
    const other = { id: 2, level: 'info', text: 'offline unavailable' };
    const again = { id: 3, level: 'error', text: 'load failed' };
    const stuck = { id: 4, level: 'error', text: 'load failed', action: 'restart' };
    expect(groupNotices([failed, other, again])).toEqual([
      { notice: again, ids: [1, 3], count: 2 },
      { notice: other, ids: [2], count: 1 },
    ]);
    // A notice that offers a button is not the same as one that does not.
    expect(groupNotices([failed, stuck]).map((g) => g.ids)).toEqual([[4], [1]]);
    expect(groupNotices([])).toEqual([]);
  });

  it('says the backend was chosen, not that it fell back, and keeps the detail', () => {
    const reason =
      'webgl: ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device)) is a software renderer, slower than wasm';
    const text = backendText({ backend: 'wasm', fallbacks: [reason] });
    expect(text.note).toBe('chose wasm: the WebGL renderer is a software one, slower');
    expect(text.note).not.toMatch(/fell back|ANGLE/);
    expect(text.detail).toContain(reason);
    expect(backendText({ backend: 'webgl', fallbacks: [], renderer: 'NVIDIA' })).toEqual({
      note: '',
      detail: 'NVIDIA',
    });
    expect(backendText({ backend: 'wasm', fallbacks: ['webgl: no WebGL2 context'] }).note).toBe(
      'chose wasm: webgl is unavailable here',
    );
  });
});

describe('bug 10: keys a focused control owns', () => {
  it('leaves arrow keys to tabs, radios and fields; text fields own every key', () => {
    expect(ownsArrowKeys({ tagName: 'BUTTON', role: 'tab' })).toBe(true);
    // A plain button acts on Enter and Space: the step-through's arrows work after a click.
    expect(ownsArrowKeys({ tagName: 'BUTTON', role: null })).toBe(false);
    expect(ownsArrowKeys({ tagName: 'INPUT', role: null })).toBe(true);
    expect(ownsArrowKeys({ tagName: 'DIV', role: 'radio' })).toBe(true);
    expect(ownsArrowKeys({ tagName: 'BODY', role: null })).toBe(false);
    expect(ownsArrowKeys(null)).toBe(false);
    expect(isTyping({ tagName: 'TEXTAREA', role: null })).toBe(true);
    expect(isTyping({ tagName: 'BUTTON', role: 'tab' })).toBe(false);
  });

  it('moves between tabs with Left, Right, Home and End, wrapping', () => {
    const tabs = ['a', 'b', 'c'] as const;
    expect(rovingAfter(tabs, 'a', 'ArrowRight')).toBe('b');
    expect(rovingAfter(tabs, 'c', 'ArrowRight')).toBe('a');
    expect(rovingAfter(tabs, 'a', 'ArrowLeft')).toBe('c');
    expect(rovingAfter(tabs, 'b', 'Home')).toBe('a');
    expect(rovingAfter(tabs, 'b', 'End')).toBe('c');
    expect(rovingAfter(tabs, 'b', 'ArrowDown')).toBeNull();
  });

  it('moves a radio group’s choice with all four arrows (WAI-ARIA radio group)', () => {
    const modes = ['probs', 'scores', 'weighted'] as const;
    expect(rovingAfter(modes, 'probs', 'ArrowDown', true)).toBe('scores');
    expect(rovingAfter(modes, 'probs', 'ArrowUp', true)).toBe('weighted');
    expect(rovingAfter(modes, 'scores', 'ArrowRight', true)).toBe('weighted');
    expect(rovingAfter(modes, 'scores', 'Enter', true)).toBeNull();
  });
});
