import { useMemo } from 'react';
import { useLab } from '../context';
import { CATEGORICAL } from '../lib/colour';
import { costSeries, crossoverLength } from '../lib/cost';
import { LineChart } from '../components/LineChart';

/** Why long contexts are expensive: n² attention against n projections, and measured time. */
export function CostPanel() {
  const cfg = useLab((s) => s.modelInfo?.config);
  const measurements = useLab((s) => s.measurements);
  const measure = useLab((s) => s.measureCost);
  const busy = useLab((s) => s.inFlight?.purpose === 'bench');
  // Far enough past the crossover to see n² win, even where the model's context stops short of it.
  const series = useMemo(
    () =>
      cfg
        ? costSeries(
            Math.max(
              cfg.contextLength,
              2 ** Math.ceil(Math.log2(4 * crossoverLength(cfg.dModel, cfg.dFF))),
            ),
            cfg.dModel,
            cfg.dFF,
            cfg.nHeads,
          )
        : [],
    [cfg],
  );
  if (!cfg) return null;
  const crossover = crossoverLength(cfg.dModel, cfg.dFF);
  return (
    <section className="cost-panel" data-testid="cost-panel">
      <p className="caption">
        Multiply–adds per layer for a sequence of n tokens: QKᵀ and P·V grow as 2n²d, the
        projections and MLP as n(4d² + 2d·d_ff). With d = {cfg.dModel}, attention dominates beyond n
        ≈ {Math.round(crossover)}
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
              name: 'projections + MLP (n)',
              colour: CATEGORICAL[0],
              points: series.map((p) => [p.n, p.linear]),
            },
          ]}
        />
        <div>
          <button type="button" data-testid="measure-cost" onClick={measure} disabled={busy}>
            {busy ? 'measuring…' : 'measure forward time'}
          </button>
          {measurements.length > 0 && (
            <LineChart
              testId="measured-chart"
              xLabel="tokens n"
              yLabel="forward time (ms)"
              series={[
                {
                  name: `measured (${measurements[0].backend})`,
                  colour: CATEGORICAL[2],
                  dots: true,
                  points: measurements.map((m) => [m.n, m.forwardMs]),
                },
              ]}
            />
          )}
          <table className="small" data-testid="measurements">
            <tbody>
              {measurements.map((m) => (
                <tr key={m.n}>
                  <td>n = {m.n}</td>
                  <td>{m.forwardMs.toFixed(1)} ms</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </section>
  );
}
