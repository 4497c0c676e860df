import { useMemo } from 'react';
import { useLab } from '../context';
import { CATEGORICAL } from '../lib/colour';
import { costSeries, crossoverLength, layerShape } from '../lib/cost';
import { LineChart } from '../components/LineChart';

/** How far past the context the single layer is measured (the RNN comparison's largest n). */
const PAST_CONTEXT_N = 4096;

/** Why long contexts are expensive: n² attention against n projections, and measured time. */
export function CostPanel() {
  const cfg = useLab((s) => s.modelInfo?.config);
  const measurements = useLab((s) => s.measurements);
  const measure = useLab((s) => s.measureCost);
  const busy = useLab((s) => s.inFlight?.purpose === 'bench');
  // Past the context: one attention layer of the model's width on random weights (the RNN
  // comparison's measurement), which no context length limits.
  const rnn = useLab((s) => s.rnn);
  const measureLayer = useLab((s) => s.measureRnn);
  const layerBusy = rnn !== null && !rnn.done;
  const layerRows = rnn?.rows ?? [];
  // Far enough past the crossover to see n² win, even where the model's context stops short of it.
  const shape = useMemo(() => (cfg ? layerShape(cfg) : null), [cfg]);
  const series = useMemo(
    () =>
      shape && cfg
        ? costSeries(
            Math.max(cfg.contextLength, 2 ** Math.ceil(Math.log2(4 * crossoverLength(shape)))),
            shape,
          )
        : [],
    [cfg, shape],
  );
  if (!cfg || !shape) return null;
  const crossover = crossoverLength(shape);
  const linearName = shape.mlp ? 'projections + MLP' : 'projections';
  return (
    <section className="cost-panel" data-testid="cost-panel" data-crossover={crossover}>
      <p className="caption">
        Multiply–adds per layer for a sequence of n tokens: QKᵀ and P·V grow as 2n²d, the{' '}
        {linearName} as n({shape.linearFormula}){shape.mlp ? '' : ' (this model has no MLP)'}. With
        d = {cfg.dModel}
        {shape.mlp ? `, d_ff = ${cfg.dFF}` : ''}, attention dominates beyond n ≈{' '}
        {Math.round(crossover)}
        {crossover > cfg.contextLength
          ? ` (longer than this model’s context of ${cfg.contextLength})`
          : ''}
        .
      </p>
      <div className="side-by-side">
        <LineChart
          testId="cost-chart"
          logY
          xLabel="tokens n"
          yLabel="multiply–adds per layer"
          series={[
            {
              name: 'attention (n²)',
              colour: CATEGORICAL[5],
              points: series.map((p) => [p.n, p.attention]),
            },
            {
              name: `${linearName} (n)`,
              colour: CATEGORICAL[0],
              points: series.map((p) => [p.n, p.linear]),
            },
          ]}
        />
        <div>
          <button type="button" data-testid="measure-cost" onClick={measure} disabled={busy}>
            {busy ? 'measuring…' : 'measure forward time'}
          </button>
          <button
            type="button"
            data-testid="measure-layer"
            onClick={() => measureLayer(PAST_CONTEXT_N)}
            disabled={layerBusy}
            title="one attention layer of this width on random weights, n = 8 … 4096"
          >
            {layerBusy ? 'measuring…' : `measure one attention layer to n = ${PAST_CONTEXT_N}`}
          </button>
          {(measurements.length > 0 || layerRows.length > 0) && (
            <LineChart
              testId="measured-chart"
              xLabel="tokens n"
              yLabel="time (ms)"
              logX={layerRows.length > 0}
              logY={layerRows.length > 0}
              series={[
                {
                  name: `forward, this model (${measurements[0]?.backend ?? rnn?.backend})`,
                  colour: CATEGORICAL[2],
                  dots: true,
                  points: measurements.map((m) => [m.n, m.forwardMs]),
                },
                {
                  name: `one attention layer, random weights (${rnn?.backend ?? ''})`,
                  colour: CATEGORICAL[5],
                  dots: true,
                  points: layerRows.map((r) => [r.n, r.attentionMs]),
                },
              ]}
            />
          )}
          {rnn?.stop && <p className="warning small">{rnn.stop}.</p>}
          <table className="small" data-testid="measurements">
            <tbody>
              {measurements.map((m) => (
                <tr key={m.n}>
                  <td>n = {m.n}</td>
                  <td>{m.forwardMs.toFixed(1)} ms</td>
                </tr>
              ))}
              {layerRows
                .filter((r) => r.n > cfg.contextLength)
                .map((r) => (
                  <tr key={`layer-${r.n}`} data-testid="past-context-row">
                    <td>n = {r.n}</td>
                    <td>one attention layer: {r.attentionMs.toFixed(1)} ms (past the context)</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      </div>
    </section>
  );
}
