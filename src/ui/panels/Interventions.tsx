import { useLab } from '../context';
import { displayPiece } from '../lib/pieces';
import { sameAblation } from '../lib/urlState';
import { attentionBlocks } from '../store/shape';
import { predictionLabel } from '../lib/predictionLabel';
import { inputKey, isDefaultInterventions } from '../store/inputs';
import {
  selectMaskPosition,
  selectPredictions,
  selectRunDone,
  selectRunId,
  selectRunInterventions,
  selectRunLength,
} from '../store/selectors';
import { Counterfactual } from '../components/Counterfactual';

function AblationGrid() {
  const cfg = useLab((s) => s.modelInfo?.config);
  const ablated = useLab((s) => s.ablated);
  const toggle = useLab((s) => s.toggleAblation);
  const clear = useLab((s) => s.clearAblations);
  if (!cfg) return null;
  return (
    <div className="ablation" aria-label="ablate heads">
      <p className="small">
        Ablate heads (their output is set to zero):{' '}
        <button type="button" onClick={clear} disabled={ablated.length === 0}>
          restore all
        </button>
      </p>
      {attentionBlocks(cfg).map((b) => (
        <div key={`${b.stack}-${b.kind}`} className="ablation-block">
          {attentionBlocks(cfg).length > 1 && <span className="small">{b.title}</span>}
          {Array.from({ length: b.layers }, (_, layer) => (
            <div key={layer} className="ablation-row">
              <span className="small">L{layer}</span>
              {Array.from({ length: cfg.nHeads }, (_, head) => {
                const ref = {
                  stack: b.stack,
                  layer,
                  head,
                  ...(b.kind === 'cross' ? { attention: b.kind } : {}),
                };
                const on = ablated.some((a) => sameAblation(a, ref));
                return (
                  <button
                    key={head}
                    type="button"
                    className={`ablate-toggle${on ? ' ablated' : ''}`}
                    data-testid="ablate-toggle"
                    data-stack={b.stack}
                    data-kind={b.kind}
                    data-layer={layer}
                    data-head={head}
                    aria-pressed={on}
                    title={`${on ? 'restore' : 'ablate'} layer ${layer} head ${head}`}
                    onClick={() => toggle(ref)}
                  >
                    {head}
                  </button>
                );
              })}
            </div>
          ))}
        </div>
      ))}
    </div>
  );
}

function TopK() {
  const runId = useLab(selectRunId);
  const done = useLab(selectRunDone);
  const predictions = useLab(selectPredictions);
  const interventions = useLab(selectRunInterventions);
  const baseline = useLab((s) => s.baseline);
  const key = useLab(inputKey);
  const cfg = useLab((s) => s.modelInfo?.config);
  const maskPosition = useLab(selectMaskPosition);
  const length = useLab(selectRunLength);
  if (!done || !predictions?.length || !interventions || !cfg) return null;
  const label = predictionLabel(cfg, maskPosition, length - 1);
  const compare =
    !isDefaultInterventions(interventions) && baseline?.key === key ? baseline.predictions : null;
  const max = Math.max(...predictions.map((p) => p.prob), 1e-9);
  return (
    <div className="topk">
      <h3 data-testid="topk-title">
        {label.title} <Counterfactual />
      </h3>
      {label.hint && (
        <p className="hint" data-testid="topk-hint">
          {label.hint}
        </p>
      )}
      <ol data-testid="topk" data-request-id={runId ?? undefined} data-mask-position={maskPosition}>
        {predictions.map((p) => {
          const before = compare?.find((b) => b.id === p.id);
          const delta = compare ? p.prob - (before?.prob ?? 0) : null;
          return (
            <li key={p.id} data-testid="topk-item" data-id={p.id} data-prob={p.prob}>
              <span className="topk-piece" title={`id ${p.id}`}>
                {displayPiece(p.piece)}
              </span>
              <span className="bar" style={{ width: `${(p.prob / max) * 100}%` }} />
              <span className="topk-prob">{(p.prob * 100).toFixed(1)}%</span>
              {delta !== null && (
                <span
                  className={`delta ${delta >= 0 ? 'up' : 'down'}`}
                  data-testid="topk-delta"
                  title={
                    before
                      ? `unmodified model: ${(before.prob * 100).toFixed(1)}%`
                      : 'not in the unmodified top-k'
                  }
                >
                  {delta >= 0 ? '+' : '−'}
                  {Math.abs(delta * 100).toFixed(2)}
                </span>
              )}
            </li>
          );
        })}
      </ol>
      {compare && (
        <p className="small">Changes in percentage points against the unmodified model.</p>
      )}
    </div>
  );
}

/** Switch the causal mask and positions off, ablate heads, and see what the model predicts. */
export function Interventions() {
  const causalMask = useLab((s) => s.causalMask);
  const usePositions = useLab((s) => s.usePositions);
  const setCausalMask = useLab((s) => s.setCausalMask);
  const setUsePositions = useLab((s) => s.setUsePositions);
  const causal = useLab((s) => s.modelInfo?.config.architecture !== 'encoder-only');
  const hasPositions = useLab((s) => s.modelInfo?.config.positions !== 'none');
  return (
    <section className="panel interventions" aria-labelledby="interventions-title">
      <h2 id="interventions-title">Interventions</h2>
      <label className="switch">
        <input
          type="checkbox"
          data-testid="mask-toggle"
          checked={causal ? causalMask : !causalMask}
          onChange={(e) => setCausalMask(causal ? e.target.checked : !e.target.checked)}
        />
        causal mask {causal ? '' : '(an experiment: the encoder reads both ways)'}
      </label>
      <label className="switch">
        <input
          type="checkbox"
          data-testid="positions-toggle"
          checked={usePositions}
          disabled={!hasPositions}
          onChange={(e) => setUsePositions(e.target.checked)}
        />
        positional encoding
      </label>
      <AblationGrid />
      <TopK />
    </section>
  );
}
