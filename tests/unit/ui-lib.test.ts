import { describe, expect, it } from 'vitest';
import { color, interpolateViridis } from 'd3';
import {
  colourOf,
  divergingScale,
  finiteExtent,
  legendStops,
  lutIndex,
  sequentialScale,
  textColourOn,
} from '../../src/ui/lib/colour';
import {
  cellPixels,
  checksum,
  MASK_BACKGROUND,
  MASK_STRIPE,
  maxPool,
  rasterise,
} from '../../src/ui/lib/heatmap';
import {
  cellAt,
  charsThatFit,
  clampTransform,
  fitLabel,
  IDENTITY,
  labelIndices,
  labelledRange,
  panBy,
  zoomAt,
} from '../../src/ui/lib/layout';
import { displayPiece, pieceTitle } from '../../src/ui/lib/pieces';
import {
  costAt,
  costSeries,
  crossoverLength,
  layerShape,
  lengthsUpTo,
} from '../../src/ui/lib/cost';
import type { ModelConfig } from '../../src/model/config';

describe('colour scales', () => {
  it('sequential scale samples viridis at both ends and in the middle', () => {
    const s = sequentialScale();
    for (const t of [0, 0.5, 1]) {
      const ref = color(interpolateViridis(t))!.rgb();
      const [r, g, b] = colourOf(s, t);
      expect(Math.abs(r - ref.r)).toBeLessThanOrEqual(2);
      expect(Math.abs(g - ref.g)).toBeLessThanOrEqual(2);
      expect(Math.abs(b - ref.b)).toBeLessThanOrEqual(2);
    }
  });

  it('clamps out-of-range values and maps NaN to the middle', () => {
    const s = sequentialScale();
    expect(lutIndex(s, -3)).toBe(0);
    expect(lutIndex(s, 7)).toBe(s.steps - 1);
    expect(lutIndex(s, NaN)).toBe(s.steps >> 1);
  });

  it('diverging scale is symmetric around zero: 0 is near-white, signs are opposite hues', () => {
    const s = divergingScale([-2, 5]);
    expect(s.min).toBe(-5);
    expect(s.max).toBe(5);
    const [r0, g0, b0] = colourOf(s, 0);
    expect(Math.min(r0, g0, b0)).toBeGreaterThan(220);
    const [rp, , bp] = colourOf(s, 5);
    const [rn, , bn] = colourOf(s, -5);
    expect(rp).toBeGreaterThan(bp); // positive: red
    expect(bn).toBeGreaterThan(rn); // negative: blue
  });

  it('finds the extent of finite unmasked values only', () => {
    expect(finiteExtent([1, -Infinity, 3, NaN, -2], [1, 1, 1, 1, 0])).toEqual([1, 3]);
    expect(finiteExtent([])).toEqual([0, 0]);
  });

  it('legend stops run from min to max and text colour contrasts', () => {
    const stops = legendStops(sequentialScale(), 5);
    expect(stops.map((s) => s.value)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(textColourOn([255, 255, 255])).toBe('#000');
    expect(textColourOn([0, 0, 0])).toBe('#fff');
  });
});

describe('heatmap rasterisation', () => {
  const scale = sequentialScale();

  it('fills each cell with its colour at cellPx pixels per cell', () => {
    const r = rasterise({ values: [0, 1, 0.5, 0.25], rows: 2, cols: 2, scale, cellPx: 3 });
    expect(r.width).toBe(6);
    expect(r.height).toBe(6);
    const px = (x: number, y: number) =>
      Array.from(r.data.subarray((y * 6 + x) * 4, (y * 6 + x) * 4 + 4));
    expect(px(0, 0)).toEqual([...colourOf(scale, 0), 255]);
    expect(px(5, 2)).toEqual([...colourOf(scale, 1), 255]);
    expect(px(1, 4)).toEqual([...colourOf(scale, 0.5), 255]);
    expect(px(4, 5)).toEqual([...colourOf(scale, 0.25), 255]);
  });

  it('draws masked cells grey and hatched, never in a palette colour', () => {
    const r = rasterise({
      values: [0.5, 0, 0.5, 0.5],
      rows: 2,
      cols: 2,
      scale,
      mask: [1, 0, 1, 1],
      cellPx: 8,
    });
    const shades = new Set<string>();
    for (let y = 0; y < 8; y++) {
      for (let x = 8; x < 16; x++) {
        const i = (y * 16 + x) * 4;
        shades.add(Array.from(r.data.subarray(i, i + 3)).join(','));
      }
    }
    expect(shades).toEqual(new Set([MASK_BACKGROUND.join(','), MASK_STRIPE.join(',')]));
    // A probability of exactly 0 that is not masked is drawn in the palette's low colour.
    expect(Array.from(r.data.subarray(0, 3))).toEqual(colourOf(scale, 0.5));
  });

  it('stripes an ablated head without hiding its colours', () => {
    const plain = rasterise({ values: [0.7], rows: 1, cols: 1, scale, cellPx: 8 });
    const hatched = rasterise({
      values: [0.7],
      rows: 1,
      cols: 1,
      scale,
      cellPx: 8,
      hatchAll: true,
    });
    let differing = 0;
    for (let i = 0; i < plain.data.length; i += 4)
      if (plain.data[i + 1] !== hatched.data[i + 1]) differing++;
    expect(differing).toBeGreaterThan(0);
    expect(differing).toBeLessThan(64);
  });

  it('rejects too few values and picks small cells for big maps', () => {
    expect(() => rasterise({ values: [1], rows: 2, cols: 2, scale, cellPx: 1 })).toThrow(
      RangeError,
    );
    expect(cellPixels(8)).toBe(12);
    expect(cellPixels(1024)).toBe(1);
    expect(cellPixels(4096)).toBe(1);
  });

  it('pools thumbnails by block maximum, masking only fully masked blocks', () => {
    // 3×3 causal probabilities pooled by 2 → 2×2.
    const p = [1, 0, 0, 0.4, 0.6, 0, 0.2, 0.3, 0.5];
    const mask = [1, 0, 0, 1, 1, 0, 1, 1, 1];
    const pooled = maxPool(p, 3, 3, 2, mask);
    expect([pooled.rows, pooled.cols]).toEqual([2, 2]);
    expect(Array.from(pooled.values)).toEqual([1, 0, 0.3, 0.5].map(Math.fround));
    expect(Array.from(pooled.mask!)).toEqual([1, 0, 1, 1]);
    expect(maxPool([-1, -2, -3, -4], 2, 2, 2).values[0]).toBe(-1);
  });

  it('checksum changes with any value and is stable otherwise', () => {
    const a = checksum(new Float32Array([0.1, 0.2, 0.3]));
    expect(checksum([0.1, 0.2, 0.3])).toBe(a);
    expect(checksum([0.1, 0.2, 0.30001])).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{8}$/);
  });
});

describe('label layout and zoom', () => {
  it('shows every label when they fit and every n-th otherwise', () => {
    expect(labelIndices(5, 20, 12)).toEqual([0, 1, 2, 3, 4]);
    expect(labelIndices(10, 5, 12)).toEqual([0, 3, 6, 9]);
    expect(labelIndices(10, 5, 12, 4, 8)).toEqual([6]);
    expect(labelIndices(0, 5, 12)).toEqual([]);
  });

  it('fits labels with an ellipsis, counting characters not UTF-16 units', () => {
    expect(fitLabel('hello', 5)).toBe('hello');
    expect(fitLabel('hello', 4)).toBe('hel…');
    expect(fitLabel('😀😀😀', 2)).toBe('😀…');
    expect(fitLabel('abc', 0)).toBe('');
    expect(charsThatFit(70, 7)).toBe(10);
  });

  it('zooms about the pointer: the content point under it stays put', () => {
    const t = zoomAt({ k: 2, x: -10, y: -20 }, 2, 50, 40);
    const before = { x: (50 - -10) / 2, y: (40 - -20) / 2 };
    expect((50 - t.x) / t.k).toBeCloseTo(before.x);
    expect((40 - t.y) / t.k).toBeCloseTo(before.y);
    expect(zoomAt(IDENTITY, 0.5, 0, 0).k).toBe(1);
    expect(zoomAt(IDENTITY, 1000, 0, 0).k).toBe(16);
  });

  it('clamps pans so the content keeps covering the view', () => {
    expect(clampTransform(panBy(IDENTITY, 30, 30), 100, 100, 100, 100)).toEqual({
      k: 1,
      x: 0,
      y: 0,
    });
    expect(clampTransform({ k: 2, x: -500, y: 10 }, 100, 100, 100, 100)).toEqual({
      k: 2,
      x: -100,
      y: 0,
    });
  });

  it('maps screen points to cells and finds the labelled range', () => {
    const t = { k: 2, x: -20, y: 0 };
    expect(cellAt(t, 0, 0, 10, 10, 8, 8)).toEqual({ row: 0, col: 1 });
    expect(cellAt(t, 59, 39, 10, 10, 8, 8)).toEqual({ row: 1, col: 3 });
    expect(cellAt(t, 500, 0, 10, 10, 8, 8)).toBeNull();
    expect(labelledRange(-20, 2, 100, 10, 8)).toEqual([1, 5]);
    expect(labelledRange(0, 1, 1000, 10, 8)).toEqual([0, 7]);
  });
});

describe('readable pieces', () => {
  it('makes whitespace and control characters visible', () => {
    expect(displayPiece(' the')).toBe('·the');
    expect(displayPiece('\u2581Haus')).toBe('·Haus');
    expect(displayPiece('\n')).toBe('⏎');
    expect(displayPiece('a\tb')).toBe('a⇥b');
    expect(displayPiece('\u0001')).toBe('\\x01');
    expect(displayPiece('')).toBe('∅');
    expect(pieceTitle(464, ' The')).toBe('id 464 · " The"');
  });
});

describe('cost series', () => {
  /** A layer's config: d = 4, 2 heads, d_ff = 16 unless overridden. */
  const shapeOf = (o: Partial<ModelConfig> = {}) =>
    layerShape({ dModel: 4, nHeads: 2, dFF: 16, attentionOnly: false, ...o } as ModelConfig);

  it('counts n² attention against n projections', () => {
    const s = shapeOf();
    const c = costAt(10, s);
    expect(c.attention).toBe(2 * 100 * 4);
    expect(c.linear).toBe(4 * 10 * 16 + 2 * 10 * 4 * 16);
    expect(c.attentionMemory).toBe(200);
    expect(s.linearFormula).toBe('4d² + 2d·d_ff');
    // Doubling n quadruples attention and doubles the rest.
    const c2 = costAt(20, s);
    expect(c2.attention / c.attention).toBe(4);
    expect(c2.linear / c.linear).toBe(2);
  });

  it('counts the layer the model has: no MLP when attention-only, three MLP matrices when gated, narrow K and V under grouped-query attention', () => {
    const only = shapeOf({ attentionOnly: true });
    expect(only.mlp).toBe(false);
    expect(costAt(10, only).linear).toBe(4 * 10 * 16);
    expect(only.linearFormula).toBe('4d²');
    // The induction model's shape: d = 64, d_ff = 256 but no MLP: n ≈ 2d = 128, not 384.
    expect(crossoverLength(shapeOf({ dModel: 64, nHeads: 4, dFF: 256, attentionOnly: true }))).toBe(
      128,
    );
    expect(crossoverLength(shapeOf({ dModel: 64, nHeads: 4, dFF: 256 }))).toBe(384);
    const llama = shapeOf({ dModel: 8, nHeads: 4, nKvHeads: 2, dFF: 16, mlp: 'gated' });
    // Q and O: 8×8 each; K and V: 8×4 each; SwiGLU: 3 × 8×16.
    expect(llama.linearPerToken).toBe(2 * 64 + 2 * 32 + 3 * 8 * 16);
    expect(llama.linearFormula).toBe('2d·8 + 2d·4 + 3d·d_ff');
  });

  it('crosses over where the quadratic term equals the linear one', () => {
    const s = shapeOf({ dModel: 64, nHeads: 4, dFF: 256 });
    const n = crossoverLength(s);
    const c = costAt(n, s);
    expect(c.attention).toBeCloseTo(c.linear);
    expect(lengthsUpTo(20)).toEqual([1, 2, 4, 8, 16, 20]);
    expect(lengthsUpTo(16)).toEqual([1, 2, 4, 8, 16]);
    expect(costSeries(4, shapeOf()).map((p) => p.n)).toEqual([1, 2, 4]);
  });
});
