import { useState } from 'react';
import { formatBytes } from '../../model/formatBytes';
import { useLab } from '../context';
import { CATEGORICAL } from '../lib/colour';
import { LineChart } from '../components/LineChart';
import { RNN_TIME_BOUND_MS } from '../store/rnnSlice';

const MAX_NS = [64, 256, 1024, 4096] as const;

/**
 * The lecture's first topic, measured: an RNN layer must take its n steps one after another and
 * carries token 1 to token n through n − 1 of them; attention connects every pair in one step
 * but holds an n × n matrix per head. Both layers have the model's width, random weights, and
 * run in the worker on the model's backend.
 */
export function RnnPanel() {
  const cfg = useLab((s) => s.modelInfo?.config);
  const rnn = useLab((s) => s.rnn);
  const measure = useLab((s) => s.measureRnn);
  const [maxN, setMaxN] = useState<number>(4096);
  if (!cfg) return null;
  const measuring = rnn !== null && !rnn.done;
  const rows = rnn?.rows ?? [];
  return (
    <section className="rnn-panel" data-testid="rnn-vs-attention">
      <p className="caption">
        One RNN layer, h<sub>t</sub> = tanh(W<sub>x</sub>x<sub>t</sub> + W<sub>h</sub>h
        <sub>t−1</sub> + b), run step by step, against one attention layer (causal, {cfg.nHeads}{' '}
        heads), both {cfg.dModel} wide with random weights, timed in the worker on its backend for n
        = 8, 16, … tokens. Each length runs once untimed first (shaders compile, code warms up),
        then five times timed; the table shows the median. A length that takes over{' '}
        {RNN_TIME_BOUND_MS / 1000} s ends the measurement. Other work on the machine inflates every
        time: compare the shapes of the curves, not single numbers.
      </p>
      <div className="toolbar">
        <label>
          up to n ={' '}
          <select
            data-testid="rnn-max-n"
            value={maxN}
            onChange={(e) => setMaxN(Number(e.target.value))}
          >
            {MAX_NS.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>{' '}
        <button
          type="button"
          data-testid="rnn-measure"
          disabled={measuring}
          onClick={() => measure(maxN)}
        >
          {measuring ? 'measuring…' : 'measure'}
        </button>
      </div>
      {rnn?.stop && (
        <p className="warning" data-testid="rnn-stop">
          {rnn.stop}.
        </p>
      )}
      {rows.length > 0 && (
        <>
          <div className="side-by-side">
            <LineChart
              testId="rnn-time-chart"
              logX
              logY
              xLabel="tokens n"
              yLabel={`time (ms, ${rnn!.backend})`}
              series={[
                {
                  name: 'RNN, n sequential steps',
                  colour: CATEGORICAL[0],
                  points: rows.map((r) => [r.n, r.rnnMs]),
                },
                {
                  name: 'attention, one step',
                  colour: CATEGORICAL[5],
                  points: rows.map((r) => [r.n, r.attentionMs]),
                },
              ]}
            />
            <LineChart
              testId="rnn-memory-chart"
              logX
              logY
              xLabel="tokens n"
              yLabel="bytes"
              series={[
                {
                  name: 'RNN state (d floats)',
                  colour: CATEGORICAL[0],
                  points: rows.map((r) => [r.n, r.rnnStateBytes]),
                },
                {
                  name: 'attention matrix (heads·n² floats)',
                  colour: CATEGORICAL[5],
                  points: rows.map((r) => [r.n, r.attentionMatrixBytes]),
                },
              ]}
            />
          </div>
          <table className="small" data-testid="rnn-rows">
            <thead>
              <tr>
                <th>n</th>
                <th>RNN time</th>
                <th>attention time</th>
                <th>longest path, RNN / attention</th>
                <th>attention matrix</th>
                <th>RNN state</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.n} data-testid="rnn-row" data-n={r.n}>
                  <td>{r.n}</td>
                  <td>{r.rnnMs.toFixed(1)} ms</td>
                  <td>{r.attentionMs.toFixed(1)} ms</td>
                  <td>
                    {r.rnnPath} steps / {r.attentionPath}
                  </td>
                  <td>{formatBytes(r.attentionMatrixBytes)}</td>
                  <td>{formatBytes(r.rnnStateBytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
