import { useEffect, useMemo, useState } from 'react';
import { useLab } from '../context';
import { keyTarget, ownsArrowKeys } from '../lib/keys';
import { generateBlocked } from '../lib/generation';
import { displayPiece } from '../lib/pieces';
import { argmax, hasQKV, stepFormula, stepQuery } from '../lib/stepThrough';
import { formatHead } from '../lib/urlState';
import { Tex } from '../components/Tex';
import { Counterfactual } from '../components/Counterfactual';
import { NeuronView } from './NeuronView';
import { NoQKV } from '../components/NoQKV';
import {
  axisTokens,
  selectAttention,
  selectNoData,
  selectRunDone,
  selectRunId,
  selectRunTokens,
} from '../store/selectors';

const STAGES = ['q · k', 'scale by 1/√(d/h)', 'mask', 'softmax', 'weighted sum of values'] as const;
/** The second stage of a model that leaves its scores unscaled (GPT-Neo): nothing to do. */
const UNSCALED_STAGE = 'no scaling (this model)';
const PLAY_MS = 900;

const fmt = (x: number) => (x === -Infinity ? '−∞' : x.toFixed(3));

/**
 * Attention for one query, one operation at a time, recomputed from the traced q, k and v and
 * checked against the traced scores and probabilities.
 */
export function StepThrough() {
  const runId = useLab(selectRunId);
  const runDone = useLab(selectRunDone);
  const runFailed = useLab((s) => s.run?.error != null);
  const focus = useLab((s) => s.focus);
  const query = useLab((s) => s.query);
  const setQuery = useLab((s) => s.setQuery);
  const generateNext = useLab((s) => s.generateNext);
  const busy = useLab((s) => s.inFlight !== null);
  const noData = useLab(selectNoData);
  const blocked = useLab((s) =>
    generateBlocked(
      s.run?.tokens.decoder?.length ?? 0,
      s.modelInfo?.config.contextLength ?? Infinity,
      s.run?.continuation ?? null,
    ),
  );
  const [stage, setStage] = useState(0);
  const [playing, setPlaying] = useState(false);
  /** The key of the neuron view; null: the most attended one. */
  const [chosenKey, setChosenKey] = useState<number | null>(null);
  const att = useLab(selectAttention(focus));
  const { queries, keys } = axisTokens(useLab(selectRunTokens), focus);
  const nQueries = att?.probs.shape[1] ?? 0;
  const t = Math.min(query, Math.max(0, nQueries - 1));
  const unscaled = useLab((s) => s.modelInfo?.config.unscaledScores ?? false);
  const step = useMemo(
    () => (att && hasQKV(att) ? stepQuery(att, focus.head, t, unscaled) : null),
    [att, focus.head, t, unscaled],
  );

  const forward = () => {
    if (stage < STAGES.length - 1) setStage(stage + 1);
    else if (t < nQueries - 1) {
      setQuery(t + 1);
      setStage(0);
    } else setPlaying(false);
  };
  const back = () => {
    if (stage > 0) setStage(stage - 1);
    else if (t > 0) {
      setQuery(t - 1);
      setStage(STAGES.length - 1);
    }
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (ownsArrowKeys(keyTarget(e.target)) || e.altKey || e.ctrlKey || e.metaKey) return;
      if (e.key === 'ArrowRight') forward();
      else if (e.key === 'ArrowLeft') back();
      else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  useEffect(() => {
    if (!playing) return;
    const timer = setTimeout(forward, PLAY_MS);
    return () => clearTimeout(timer);
  });

  if (noData) return <p className="hint">{noData}</p>;
  if (runId === null) return <p className="hint">Run the model to step through its attention.</p>;
  if (!att) return <p className="hint">Waiting for layer {focus.layer}…</p>;
  if (!step) return <NoQKV />;
  const best = argmax(step.probs);
  const neuronKey = chosenKey !== null && chosenKey < step.dots.length ? chosenKey : best;
  const label = (j: number) => displayPiece(keys[j]?.piece ?? String(j));
  const maxP = Math.max(...step.probs, 1e-9);
  return (
    <section
      className="step-through"
      data-testid="step-through"
      data-request-id={runId}
      data-query={t}
      data-stage={stage}
      data-score-error={step.scoreError}
      data-prob-error={step.probError}
      data-output-error={step.outputError}
    >
      <div className="toolbar">
        <button type="button" data-testid="step-prev" onClick={back} aria-label="previous step (←)">
          ◀
        </button>
        <button type="button" data-testid="step-next" onClick={forward} aria-label="next step (→)">
          ▶ next
        </button>
        <button
          type="button"
          data-testid="step-play"
          onClick={() => setPlaying(!playing)}
          aria-pressed={playing}
        >
          {playing ? 'pause' : 'play'}
        </button>
        <label>
          query{' '}
          <input
            type="range"
            min={0}
            max={Math.max(0, nQueries - 1)}
            value={t}
            data-testid="step-query"
            onChange={(e) => {
              setQuery(Number(e.target.value));
              setStage(0);
            }}
          />{' '}
          #{t} “{displayPiece(queries[t]?.piece ?? String(t))}”
        </label>
        <button
          type="button"
          data-testid="generate-next"
          disabled={!runDone || busy || runFailed || blocked !== null}
          onClick={() => generateNext()}
          title="append the most likely next token and run again"
          aria-describedby={blocked ? 'generate-blocked' : undefined}
        >
          generate next token
        </button>
        {blocked && (
          <span className="hint" id="generate-blocked" data-testid="generate-blocked">
            {blocked}
          </span>
        )}
      </div>
      <ol className="stages">
        {STAGES.map((s, i) => (
          <li key={s} className={i === stage ? 'current' : i < stage ? 'done' : ''}>
            <button type="button" onClick={() => setStage(i)}>
              {i + 1}. {i === 1 && step.unscaled ? UNSCALED_STAGE : s}
            </button>
          </li>
        ))}
      </ol>
      <Tex tex={stepFormula(step, best)} />
      <p className="caption">
        {formatHead(focus, focus.kind)}, d/h = {step.headDim}. Recomputed here from q, k, v: largest
        difference from the model’s own scores {step.scoreError.toExponential(1)}, probabilities{' '}
        {step.probError.toExponential(1)}
        {Number.isFinite(step.outputError) && (
          <>, head output {step.outputError.toExponential(1)}</>
        )}
        .{' '}
        {step.gate === 0 && (
          <span className="counterfactual">head ablated: its output is multiplied by 0</span>
        )}
        <Counterfactual />
      </p>
      <div className="step-table-scroll">
        <table className="step-table">
          <thead>
            <tr>
              <th>key j</th>
              <th>q·k</th>
              {stage >= 1 && (
                <th>{step.unscaled ? 'e (unscaled)' : `× ${step.scale.toFixed(3)}`}</th>
              )}
              {stage >= 2 && <th>masked</th>}
              {stage >= 3 && <th>p = softmax</th>}
            </tr>
          </thead>
          <tbody>
            {Array.from(step.dots, (dot, j) => (
              <tr
                key={j}
                data-testid="step-row"
                data-scaled={step.scaled[j]}
                className={`${step.allowed[j] ? '' : 'masked-row'}${j === neuronKey ? ' selected' : ''}`}
                aria-selected={j === neuronKey}
                title="show this pair in the neuron view"
                onClick={() => setChosenKey(j)}
              >
                <td>
                  #{j} {label(j)}
                </td>
                <td>{fmt(dot)}</td>
                {stage >= 1 && <td>{fmt(step.scaled[j])}</td>}
                {stage >= 2 && <td>{fmt(step.masked[j])}</td>}
                {stage >= 3 && (
                  <td className="prob-cell">
                    <span className="bar" style={{ width: `${(step.probs[j] / maxP) * 100}%` }} />
                    {step.probs[j].toFixed(4)}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {stage >= 4 && (
        <p className="output-vector" data-testid="step-output">
          o<sub>{t}</sub> = {step.gate === 0 ? '0 · ' : ''}Σ<sub>j</sub> p<sub>j</sub> v<sub>j</sub>{' '}
          = [{Array.from(step.output.slice(0, 8), (x) => x.toFixed(3)).join(', ')}
          {step.output.length > 8 ? ', …' : ''}]
        </p>
      )}
      <NeuronView
        att={att}
        head={focus.head}
        query={t}
        keyIndex={neuronKey}
        keyLabel={label(neuronKey)}
        queryLabel={displayPiece(queries[t]?.piece ?? String(t))}
      />
    </section>
  );
}
