import { describe, expect, it } from 'vitest';
import {
  ablationsIn,
  DEFAULT_VIEW,
  formatHead,
  MAX_ABLATIONS,
  parseHead,
  parseView,
  serializeView,
  type AttentionLayers,
  type ViewState,
} from '../../src/ui/lib/urlState';
import { escapeXml, heatmapSvg, traceJson } from '../../src/ui/lib/exporters';
import { sequentialScale } from '../../src/ui/lib/colour';
import { mean, parseTrainingCurve, residualAcrossDepth, stackNorms } from '../../src/ui/lib/norms';
import type { StackTrace } from '../../src/model/trace';

describe('URL hash state', () => {
  it('the default view is an empty hash and parses back', () => {
    expect(serializeView(DEFAULT_VIEW)).toBe('');
    expect(parseView('')).toEqual(DEFAULT_VIEW);
    expect(parseView('#')).toEqual(DEFAULT_VIEW);
  });

  it('round-trips every field, including awkward text', () => {
    const v: ViewState = {
      model: 'induction-2l',
      text: 'a&b=c #1 ü\n',
      sourceText: 'March 3, 1999',
      causalMask: false,
      usePositions: false,
      ablated: [
        { stack: 'decoder', layer: 1, head: 2 },
        { stack: 'encoder', layer: 0, head: 3 },
        { stack: 'decoder', layer: 0, head: 3, attention: 'cross' },
      ],
      focus: { stack: 'decoder', layer: 1, head: 0, kind: 'cross' },
      mode: 'scores',
      words: true,
      query: 7,
      tab: 'metrics',
      theme: 'dark',
      zoom: { k: 2.5, x: -10.25, y: -3 },
      compareModel: 'postnorm',
    };
    const hash = serializeView(v);
    expect(parseView('#' + hash)).toEqual(v);
    expect(hash).toContain('ablate=d1.2%2Ce0.3%2Cd0.3x');
  });

  it('falls back to defaults on garbage rather than failing', () => {
    const v = parseView(
      '#ablate=x1.2,d1.1,d1.1&head=zz&q=-4&tab=nope&theme=blue&zoom=0.1,a,3&values=?',
    );
    expect(v.ablated).toEqual([{ stack: 'decoder', layer: 1, head: 1 }]);
    expect(v.focus).toEqual(DEFAULT_VIEW.focus);
    expect(v.query).toBe(0);
    expect(v.tab).toBe('step');
    expect(v.theme).toBe(DEFAULT_VIEW.theme);
    expect(v.zoom).toEqual(DEFAULT_VIEW.zoom);
    expect(v.mode).toBe('probs');
  });

  it('formats and parses head references', () => {
    expect(formatHead({ stack: 'encoder', layer: 3, head: 11 })).toBe('e3.11');
    expect(parseHead('d0.4')).toEqual({ stack: 'decoder', layer: 0, head: 4, kind: 'self' });
    expect(parseHead('d1.2x')).toEqual({ stack: 'decoder', layer: 1, head: 2, kind: 'cross' });
    expect(parseHead('d0')).toBeNull();
    // One spelling per head; cross-attention only in a decoder.
    expect(parseHead('d01.2')).toBeNull();
    expect(parseHead('e3.1x')).toBeNull();
    expect(parseHead('d10000.0')).toBeNull();
  });
});

describe('ablations from a URL', () => {
  // A 2-layer decoder-only model with 4 heads, and an encoder–decoder of 1 + 2 layers.
  const DECODER: AttentionLayers[] = [{ stack: 'decoder', kind: 'self', layers: 2 }];
  const ENC_DEC: AttentionLayers[] = [
    { stack: 'encoder', kind: 'self', layers: 1 },
    { stack: 'decoder', kind: 'self', layers: 2 },
    { stack: 'decoder', kind: 'cross', layers: 2 },
  ];

  it('the crafted hash of the report ablates the one head that exists', () => {
    const v = parseView('#ablate=d9999.0,d0.9999,e3.1x,d1.3');
    expect(v.ablated.map((h) => formatHead(h, h.attention))).toEqual([
      'd9999.0',
      'd0.9999',
      'd1.3',
    ]);
    expect(ablationsIn(v.ablated, DECODER, 4)).toEqual([{ stack: 'decoder', layer: 1, head: 3 }]);
  });

  it('keeps exactly the heads a model has: stack, attention, layer and head', () => {
    const heads = parseView('#ablate=e0.3,e1.0,d1.3,d1.3x,d2.0x,d0.4x,e0.0').ablated;
    expect(ablationsIn(heads, ENC_DEC, 4).map((h) => formatHead(h, h.attention))).toEqual([
      'e0.3',
      'd1.3',
      'd1.3x',
      'e0.0',
    ]);
    expect(ablationsIn(heads, DECODER, 4).map((h) => formatHead(h, h.attention))).toEqual(['d1.3']);
    expect(ablationsIn([], ENC_DEC, 4)).toEqual([]);
  });

  it(`reads at most ${MAX_ABLATIONS} entries, however long the list`, () => {
    const many = Array.from({ length: 10_000 }, (_, i) => `d${i % 100}.${Math.floor(i / 100)}`);
    expect(parseView(`#ablate=${many.join(',')}`).ablated).toHaveLength(MAX_ABLATIONS);
  });
});

describe('exports', () => {
  it('writes a standalone SVG: one rect per cell, masked cells hatched, labels escaped', () => {
    const svg = heatmapSvg({
      title: 'L0 H1 <probs>',
      values: [1, 0, 0.4, 0.6],
      rows: 2,
      cols: 2,
      mask: [1, 0, 1, 1],
      scale: sequentialScale(),
      rowLabels: ['a', '<b>'],
      colLabels: ['a', '<b>'],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<rect x="\d+" y="\d+" width="16"/g)).toHaveLength(4);
    expect(svg.match(/fill="url\(#masked\)"/g)).toHaveLength(1);
    expect(svg).toContain('&#60;b&#62;');
    expect(svg).not.toContain('<b>');
    expect(escapeXml(`"'&`)).toBe('&#34;&#39;&#38;');
  });

  it('exports the trace as JSON with nested arrays', () => {
    const json = JSON.parse(
      traceJson(
        {
          decoder: {
            embedding: {
              type: 'embedding',
              stack: 'decoder',
              inputIds: [1, 2],
              hidden: { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) },
            },
            layers: [],
          },
        },
        { model: 'm' },
      ),
    );
    expect(json.model).toBe('m');
    expect(json.trace.decoder.embedding.hidden).toEqual({
      shape: [2, 2],
      data: [
        [1, 2],
        [3, 4],
      ],
    });
    expect(json.trace.decoder.embedding.inputIds).toEqual([1, 2]);
  });
});

describe('norms and training curves', () => {
  const f = (...xs: number[]) => Float32Array.from(xs);
  const stack: StackTrace = {
    embedding: {
      type: 'embedding',
      stack: 'decoder',
      inputIds: [0, 1],
      hidden: { shape: [2, 1], data: f(0, 0) },
    },
    layers: [0, 1].map((layer) => ({
      type: 'layer' as const,
      stack: 'decoder' as const,
      layer,
      attentions: [],
      norms: [
        {
          name: `h.${layer}.ln_1`,
          inputMean: f(1, 2),
          inputVar: f(4, 9),
          outputMean: f(0, 0),
          outputVar: f(1, 1),
        },
      ],
      residual: [
        { point: 'input', norms: f(layer, layer) },
        { point: 'after-attention', norms: f(layer + 0.5, 1) },
      ],
      hidden: { shape: [2, 1], data: f(0, 0) },
    })),
    output: {
      type: 'output',
      stack: 'decoder',
      finalNorm: {
        name: 'ln_f',
        inputMean: f(0, 0),
        inputVar: f(0, 16),
        outputMean: f(0, 0),
        outputVar: f(1, 1),
      },
      hidden: { shape: [2, 1], data: f(0, 0) },
      logitPositions: [1],
    },
  };

  it('turns variances into standard deviations, in forward order', () => {
    const norms = stackNorms(stack);
    expect(norms.map((n) => n.name)).toEqual(['h.0.ln_1', 'h.1.ln_1', 'ln_f']);
    expect(norms[0].inputStd).toEqual([2, 3]);
    expect(norms[2].inputStd).toEqual([0, 4]);
  });

  it('lists residual norms across depth without repeating layer inputs', () => {
    expect(residualAcrossDepth(stack).map((p) => p.label)).toEqual([
      '0 input',
      '0 after-attention',
      '1 after-attention',
    ]);
    expect(mean([1, 2, 3])).toBe(2);
    expect(mean([])).toBeNaN();
  });

  it('reads training.json loss curves and rejects malformed ones', () => {
    expect(
      parseTrainingCurve({ steps: [0, 10], train_loss: [5, 3], val_loss: [5.2, 3.4] }),
    ).toEqual({
      steps: [0, 10],
      trainLoss: [5, 3],
      valLoss: [5.2, 3.4],
      valSteps: [0, 10],
    });
    expect(
      parseTrainingCurve({ steps: [0, 10], train_loss: [5, 3], val_loss: [4], val_steps: [10] })
        ?.valSteps,
    ).toEqual([10]);
    expect(parseTrainingCurve({ steps: [0, 10], train_loss: [5] })).toBeNull();
    expect(parseTrainingCurve({ steps: [0], train_loss: ['x'] })).toBeNull();
    expect(parseTrainingCurve(null)).toBeNull();
  });
});
