import { useMemo } from 'react';
import { row, type AttentionTrace } from '../../model/trace';
import { useLab } from '../context';
import { sequentialScale } from '../lib/colour';
import { displayPiece } from '../lib/pieces';
import { Heatmap, type HeatmapData } from '../components/Heatmap';
import { Counterfactual } from '../components/Counterfactual';
import {
  axisTokens,
  selectAttention,
  selectNoData,
  selectRunId,
  selectRunTokens,
} from '../store/selectors';
import type { RunState } from '../store/types';
import type { AttentionKind } from '../lib/urlState';
import type { Stack } from '../../model/trace';

function headData(
  att: AttentionTrace | null,
  tokens: RunState['tokens'] | undefined,
  stack: Stack,
  kind: AttentionKind,
  head: number,
): HeatmapData | null {
  if (!att || head >= att.probs.shape[0]) return null;
  const [, rows, cols] = att.probs.shape;
  const { queries, keys } = axisTokens(tokens, { stack, kind });
  return {
    values: row(att.probs, head),
    rows,
    cols,
    mask: att.mask.data,
    hatchAll: att.headGate[head] === 0,
    rowLabels: Array.from({ length: rows }, (_, i) => displayPiece(queries[i]?.piece ?? String(i))),
    colLabels: Array.from({ length: cols }, (_, j) => displayPiece(keys[j]?.piece ?? String(j))),
  };
}

/** Cross-attention averaged over the heads of a layer: which source token each output token reads. */
function Alignment({ layer }: { layer: number }) {
  const att = useLab(selectAttention({ stack: 'decoder', layer, kind: 'cross' }));
  const tokens = useLab(selectRunTokens);
  const { queries, keys } = axisTokens(tokens, { stack: 'decoder', kind: 'cross' });
  if (!att) return null;
  const [heads, nq, nk] = att.probs.shape;
  const avg = new Float32Array(nq * nk);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < nq * nk; i++) avg[i] += att.probs.data[h * nq * nk + i] / heads;
  const width = 680;
  const step = Math.min(46, (width - 40) / Math.max(nq, nk, 1));
  const x = (i: number) => 20 + i * step + step / 2;
  return (
    <figure data-testid="alignment" className="alignment">
      <svg width={width} height={150} role="img" aria-label="source–target alignment">
        {Array.from({ length: nq }, (_, i) =>
          Array.from({ length: nk }, (_, j) => {
            const p = avg[i * nk + j];
            return p < 0.05 ? null : (
              <line
                key={`${i}-${j}`}
                x1={x(j)}
                y1={30}
                x2={x(i)}
                y2={118}
                stroke="var(--accent)"
                strokeOpacity={p}
                strokeWidth={1 + 4 * p}
              >
                <title>{`${displayPiece(queries[i]?.piece ?? '')} ← ${displayPiece(keys[j]?.piece ?? '')}: ${p.toFixed(3)}`}</title>
              </line>
            );
          }),
        )}
        {Array.from({ length: nk }, (_, j) => (
          <text key={`s${j}`} x={x(j)} y={20} textAnchor="middle" className="hv-token">
            {displayPiece(keys[j]?.piece ?? String(j))}
          </text>
        ))}
        {Array.from({ length: nq }, (_, i) => (
          <text key={`t${i}`} x={x(i)} y={136} textAnchor="middle" className="hv-token">
            {displayPiece(queries[i]?.piece ?? String(i))}
          </text>
        ))}
      </svg>
      <figcaption className="small">
        source (top) → output (bottom): layer {layer} cross-attention, averaged over heads
      </figcaption>
    </figure>
  );
}

/** Encoder self-attention, decoder masked self-attention and cross-attention of one head. */
export function EncDecPanel() {
  const runId = useLab(selectRunId);
  const noData = useLab(selectNoData);
  const tokens = useLab(selectRunTokens);
  const encDec = useLab((s) => s.modelInfo?.config.architecture === 'encoder-decoder');
  const nEnc = useLab((s) => s.modelInfo?.config.nEncoderLayers ?? 0);
  const focus = useLab((s) => s.focus);
  const scale = useMemo(() => sequentialScale(), []);
  const encLayer = Math.min(focus.layer, Math.max(0, nEnc - 1));
  const encAtt = useLab(selectAttention({ stack: 'encoder', layer: encLayer, kind: 'self' }));
  const decAtt = useLab(selectAttention({ stack: 'decoder', layer: focus.layer, kind: 'self' }));
  const crossAtt = useLab(selectAttention({ stack: 'decoder', layer: focus.layer, kind: 'cross' }));
  const enc = useMemo(
    () => headData(encAtt, tokens, 'encoder', 'self', focus.head),
    [encAtt, tokens, focus.head],
  );
  const dec = useMemo(
    () => headData(decAtt, tokens, 'decoder', 'self', focus.head),
    [decAtt, tokens, focus.head],
  );
  const cross = useMemo(
    () => headData(crossAtt, tokens, 'decoder', 'cross', focus.head),
    [crossAtt, tokens, focus.head],
  );
  if (!encDec) {
    return (
      <p className="hint" data-testid="cross-attention">
        This model has no encoder. Load the encoder–decoder (dates) model to see cross-attention.
      </p>
    );
  }
  const maps: [string, string, HeatmapData | null, string, string][] = [
    [
      'encoder-heatmap',
      `encoder self-attention L${encLayer} H${focus.head}`,
      enc,
      'source',
      'source',
    ],
    [
      'decoder-heatmap',
      `decoder masked self-attention L${focus.layer} H${focus.head}`,
      dec,
      'output',
      'output',
    ],
    ['cross-heatmap', `cross-attention L${focus.layer} H${focus.head}`, cross, 'output', 'source'],
  ];
  return (
    <section
      className="encdec-panel"
      data-testid="cross-attention"
      data-request-id={runId ?? undefined}
    >
      <p className="caption">
        The encoder reads the whole source (no mask); the decoder reads its own output so far
        (causal mask) and, through cross-attention, the encoder’s output. <Counterfactual />
      </p>
      <div className="side-by-side">
        {maps.map(([testId, title, data, rowTitle, colTitle]) => (
          <div key={testId}>
            <h3>{title}</h3>
            <Heatmap
              testId={testId}
              label={title}
              requestId={runId}
              data={data}
              empty={noData}
              scale={scale}
              size={240}
              rowTitle={rowTitle}
              colTitle={colTitle}
              margin={{ top: 56, left: 64 }}
            />
          </div>
        ))}
      </div>
      <Alignment layer={focus.layer} />
    </section>
  );
}
