import { useMemo } from 'react';
import type { AttentionTrace } from '../../model/trace';
import { useLab } from '../context';
import { cssColour, divergingScale } from '../lib/colour';
import { neuronTerms, topDimensions } from '../lib/neuronView';

const CELL_H = 18;
const MAX_WIDTH = 640;
const LABEL_W = 56;

/**
 * q_i, k_j and q_i ⊙ k_j of one head as rows of cells, one per dimension (red positive, blue
 * negative, each row on its own symmetric scale), and the sum that makes the score.
 */
export function NeuronView({
  att,
  head,
  query,
  keyIndex,
  keyLabel,
  queryLabel,
}: {
  att: AttentionTrace;
  head: number;
  query: number;
  keyIndex: number;
  keyLabel: string;
  queryLabel: string;
}) {
  const unscaled = useLab((s) => s.modelInfo?.config.unscaledScores ?? false);
  const t = useMemo(
    () => neuronTerms(att, head, query, keyIndex, unscaled),
    [att, head, query, keyIndex, unscaled],
  );
  const dh = t.q.length;
  const cell = Math.max(2, Math.min(14, Math.floor((MAX_WIDTH - LABEL_W) / dh)));
  const rows: { name: string; values: ArrayLike<number> }[] = [
    { name: `q${query}`, values: t.q },
    { name: `k${keyIndex}`, values: t.k },
    { name: 'q⊙k', values: t.products },
  ];
  const scaleOf = (v: ArrayLike<number>) => {
    let m = 0;
    for (let c = 0; c < v.length; c++) m = Math.max(m, Math.abs(v[c]));
    return divergingScale([-m, m]);
  };
  return (
    <section
      className="neuron-view"
      data-testid="neuron-view"
      data-query={query}
      data-key={keyIndex}
      data-products={Array.from(t.products).join(',')}
      data-sum={t.sum}
      data-scaled={t.scaled}
      data-scale={t.scale}
      data-traced={t.traced}
    >
      <h3>
        Neuron view: query #{query} “{queryLabel}” · key #{keyIndex} “{keyLabel}”
      </h3>
      <svg
        width={LABEL_W + dh * cell}
        height={rows.length * CELL_H + 4}
        role="img"
        aria-label={`q, k and their products over ${dh} dimensions`}
      >
        {rows.map((r, y) => {
          const scale = scaleOf(r.values);
          return (
            <g key={r.name} transform={`translate(0,${y * CELL_H})`}>
              <text x={LABEL_W - 6} y={CELL_H - 5} textAnchor="end">
                {r.name}
              </text>
              {Array.from(r.values, (v, c) => (
                <rect
                  key={c}
                  x={LABEL_W + c * cell}
                  y={1}
                  width={cell - (cell > 4 ? 1 : 0)}
                  height={CELL_H - 2}
                  fill={cssColour(scale, v)}
                >
                  <title>{`${r.name}[${c}] = ${v.toFixed(4)}`}</title>
                </rect>
              ))}
            </g>
          );
        })}
      </svg>
      <p className="caption" data-testid="neuron-sum">
        Σ<sub>c</sub> q<sub>c</sub>k<sub>c</sub> = {t.sum.toFixed(4)};{' '}
        {t.unscaled ? (
          <>not scaled: this model (GPT-Neo) uses q·k as the score, without 1/√{dh}, so = </>
        ) : (
          <>× 1/√{dh} = </>
        )}
        <strong>{t.scaled.toFixed(4)}</strong>, the model’s score e = {t.traced.toFixed(4)}{' '}
        (difference {Math.abs(t.scaled - t.traced).toExponential(1)}). Largest products:{' '}
        {topDimensions(t.products, 3)
          .map((c) => `#${c} (${t.products[c] >= 0 ? '+' : ''}${t.products[c].toFixed(3)})`)
          .join(', ')}
        .
      </p>
    </section>
  );
}
