import { useMemo, useState } from 'react';
import type { ModelConfig } from '../../model/config';
import { CATEGORICAL } from '../lib/colour';
import { dotByOffset, pairUnitVector, ropeSpec, wavelength } from '../lib/rope';
import { LineChart } from '../components/LineChart';
import { Tex } from '../components/Tex';

/** Offsets drawn in the q·k chart: the context, up to this many (a long context's tail adds little). */
const MAX_OFFSETS = 2048;

/**
 * RoPE (Llama, Qwen2): nothing is added to the input; each head's queries and keys are rotated
 * pair by pair. One chart of each pair's frequency, one of q·k for fixed vectors against i − j.
 * The numbers behind both charts are on their wrappers (`data-values`) for tests.
 */
export function RopeView({ cfg }: { cfg: ModelConfig }) {
  const spec = useMemo(() => ropeSpec(cfg), [cfg]);
  const [pair, setPair] = useState<number | null>(null);
  const count = Math.min(cfg.contextLength, MAX_OFFSETS);
  const pairs = spec?.frequencies.length ?? 0;
  // The pair picked for another model may not exist in this one: the sum then.
  const shownPair = pair !== null && pair < pairs ? pair : null;
  const dots = useMemo(() => {
    if (!spec) return null;
    const unit = pairUnitVector(spec.headDim);
    return dotByOffset(unit, unit, spec.frequencies, count, shownPair);
  }, [spec, count, shownPair]);
  if (!spec || !dots) return null;
  return (
    <div className="rope-view" data-testid="rope-view">
      <p className="caption">
        Rotary positions: nothing is added to the embeddings. In every head, dimension m pairs with
        m + d/2 (d = {spec.headDim}), and pair i of a query or key at position t is turned by the
        angle t·ω_i, with θ = {spec.theta}:
      </p>
      <Tex tex={String.raw`\omega_i = \theta^{-2i/d},\quad i = 0,\dots,${pairs - 1}`} />
      <div className="side-by-side">
        <div
          data-testid="rope-frequencies"
          data-theta={spec.theta}
          data-head-dim={spec.headDim}
          data-values={JSON.stringify(Array.from(spec.frequencies))}
        >
          <h3>frequency of each pair</h3>
          <LineChart
            series={[
              {
                name: 'ω_i',
                colour: CATEGORICAL[0],
                points: Array.from(spec.frequencies, (w, i) => [i, w]),
                dots: pairs <= 64,
              },
            ]}
            xLabel="pair i"
            yLabel="ω_i (radians per position)"
            logY
          />
          <p className="small">
            Pair 0 turns once every {wavelength(spec.frequencies[0]).toPrecision(3)} positions; pair{' '}
            {pairs - 1} once every {wavelength(spec.frequencies[pairs - 1]).toPrecision(3)}: fast
            pairs tell near positions apart, slow ones far ones.
          </p>
        </div>
        <div
          data-testid="rope-dot"
          data-pair={shownPair ?? 'sum'}
          data-values={JSON.stringify(Array.from(dots))}
        >
          <h3>q·k of fixed vectors against i − j</h3>
          <label>
            over{' '}
            <select
              data-testid="rope-pair"
              value={shownPair ?? 'sum'}
              onChange={(e) => setPair(e.target.value === 'sum' ? null : Number(e.target.value))}
            >
              <option value="sum">all {pairs} pairs (the sum)</option>
              {Array.from({ length: pairs }, (_, i) => (
                <option key={i} value={i}>
                  pair {i} (dims {i}, {i + pairs})
                </option>
              ))}
            </select>
          </label>
          <LineChart
            series={[
              {
                name: shownPair === null ? 'Σ_i cos((i−j)ω_i)' : `cos((i−j)ω_${shownPair})`,
                colour: CATEGORICAL[1],
                points: Array.from(dots, (v, offset) => [offset, v]),
              },
            ]}
            xLabel="offset i − j"
            yLabel="q·k"
          />
          <p className="small">
            q = k = the unit vector (1, 0) in every pair, q rotated to position i and k to j: the
            product depends on i − j only, which is why RoPE encodes relative position.
          </p>
        </div>
      </div>
    </div>
  );
}
