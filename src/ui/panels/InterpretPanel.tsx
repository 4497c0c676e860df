/**
 * The "interpret" tab: the logit lens, direct logit attribution and activation patching, each
 * computed in the worker on the model under the sidebar's interventions (interpretSlice.ts asks
 * for them; each answer says which it was computed under) and drawn as a
 * heatmap with the exact value on hover. The answers behind the canvases are in the store
 * (`interpret`) and summed up in data-* attributes for the tests. docs/interpretability.md.
 */
import { useEffect, useMemo } from 'react';
import { unsupportedReason, type InterpretTool } from '../../model/analysis/stream';
import type {
  ActivationPatchingResult,
  AnalysisResult,
  LogitAttributionResult,
  LogitLensResult,
} from '../../workers/protocol';
import { useLab } from '../context';
import { Heatmap } from '../components/Heatmap';
import { divergingScale, finiteExtent, sequentialScale } from '../lib/colour';
import {
  attributionMatrix,
  attributionParts,
  attributionSumText,
  describeInterventions,
  describeLensCell,
  describePatchCell,
  lensMatrix,
  lensTopK,
  patchingMatrices,
  positionLabels,
  signed,
} from '../lib/interpret';
import { displayPiece } from '../lib/pieces';
import { interventionsOf } from '../store/inputs';
import type { ToolState } from '../store/types';

const PROBABILITY = sequentialScale();

/** A tool's message where it cannot read this model, its error, or its wait; null when shown. */
function ToolStatus(props: { tool: InterpretTool; state: ToolState; testId: string }) {
  const cfg = useLab((s) => s.modelInfo?.config);
  const pending = useLab((s) => s.interpretPending);
  const reason = cfg ? unsupportedReason(cfg, props.tool) : null;
  if (reason)
    return (
      <p className="hint" data-testid={`${props.testId}-unsupported`}>
        {reason}.
      </p>
    );
  if (props.state.error) return <p className="warning">{props.state.error}</p>;
  if (!props.state.result)
    return <p className="hint">{pending ? 'computing…' : 'waiting for a run…'}</p>;
  return null;
}

/** Under a tool's heading: the interventions its answer was computed under, where there are any. */
function AnalysedUnder(props: { result: AnalysisResult | null; testId: string }) {
  const under = props.result && describeInterventions(props.result.interventions);
  if (!under) return null;
  return (
    <p className="counterfactual" role="note" data-testid={`${props.testId}-under`}>
      computed with {under}
    </p>
  );
}

function LogitLens() {
  const state = useLab((s) => s.interpret.lens);
  const setPosition = useLab((s) => s.setLensPosition);
  const result = state.result?.tool === 'logit-lens' ? (state.result as LogitLensResult) : null;
  const data = useMemo(() => (result ? lensMatrix(result) : null), [result]);
  const top = useMemo(() => (result ? lensTopK(result) : []), [result]);
  const last = top[top.length - 1]?.[0];
  return (
    <section
      className="interpret-tool"
      data-testid="logit-lens"
      data-position={result?.position}
      data-last-top1={last?.id}
      data-last-top1-prob={last?.prob}
    >
      <h3>Logit lens</h3>
      <AnalysedUnder result={result} testId="logit-lens" />
      <p className="caption">
        The residual stream after every attention and MLP sub-layer, read as if it were the last:
        through the final norm and the unembedding. Each cell is the top-1 token’s probability at
        that point and position; the last row is the model’s own prediction. Click a column to read
        that position.
      </p>
      <ToolStatus tool="logit-lens" state={state} testId="logit-lens" />
      {result && data && (
        <div className="side-by-side">
          <Heatmap
            testId="logit-lens-grid"
            label="logit lens: top-1 probability per residual point and position"
            requestId={null}
            data={data}
            scale={PROBABILITY}
            size={360}
            rowTitle="residual point"
            colTitle="position"
            highlightRow={data.rows - 1}
            describe={(row, col) => describeLensCell(result, row, col)}
            onCellClick={(_row, col) => setPosition(col)}
          />
          <table className="lens-topk" data-testid="lens-topk">
            <caption>
              top {result.k} at position {positionLabels(result.tokens)[result.position]}
            </caption>
            <tbody>
              {top.map((row, p) => (
                <tr key={result.points[p]}>
                  <th scope="row">{result.points[p]}</th>
                  {row.map((t) => (
                    <td key={t.id} title={`id ${t.id}`}>
                      {displayPiece(t.piece)} {(100 * t.prob).toFixed(1)}%
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function LogitAttribution() {
  const state = useLab((s) => s.interpret.attribution);
  const lens = useLab((s) => s.interpret.lens.result);
  const token = useLab((s) => s.attributionToken);
  const setToken = useLab((s) => s.setAttributionToken);
  const result =
    state.result?.tool === 'logit-attribution' ? (state.result as LogitAttributionResult) : null;
  const data = useMemo(() => (result ? attributionMatrix(result) : null), [result]);
  const scale = useMemo(() => divergingScale(finiteExtent(data?.values ?? [])), [data]);
  const parts = result ? attributionParts(result) : null;
  // The tokens to attribute: the model's own top-k at the position (the lens's last row).
  const choices = lens?.tool === 'logit-lens' ? (lensTopK(lens).at(-1) ?? []) : [];
  return (
    <section
      className="interpret-tool"
      data-testid="logit-attribution"
      data-token={result?.token.id}
      data-sum={parts?.total}
      data-logit={result?.logit}
    >
      <h3>Direct logit attribution</h3>
      <AnalysedUnder result={result} testId="logit-attribution" />
      <p className="caption">
        Each head’s and each MLP’s direct contribution to one token’s logit at the lens’s position:
        its output through the final norm (linearised at the full residual: divided by the norm’s
        scale computed on it) and the unembedding. With the embeddings and the biases they sum
        exactly to the logit.
      </p>
      <label className="field">
        token{' '}
        <select
          data-testid="attribution-token"
          value={token ?? ''}
          onChange={(e) => setToken(e.target.value === '' ? null : Number(e.target.value))}
        >
          <option value="">the prediction</option>
          {choices.map((t) => (
            <option key={t.id} value={t.id}>
              {displayPiece(t.piece)} ({(100 * t.prob).toFixed(1)}%)
            </option>
          ))}
        </select>
      </label>
      <ToolStatus tool="logit-attribution" state={state} testId="logit-attribution" />
      {result && data && parts && (
        <>
          <Heatmap
            testId="logit-attribution-map"
            label="direct logit attribution per layer and head"
            requestId={null}
            data={data}
            scale={scale}
            size={300}
            rowTitle="layer"
            colTitle={result.mlpShares.length ? 'head (and MLP)' : 'head'}
            describe={(row, col, v) =>
              `${data.rowLabels[row]}, ${data.colLabels[col]}: ${signed(v)} to the logit of “${displayPiece(result.token.piece)}”`
            }
          />
          <p className="small" data-testid="attribution-sum">
            logit of “{displayPiece(result.token.piece)}” at position {result.position}:{' '}
            {attributionSumText(result)} = <strong>{parts.total.toFixed(3)}</strong> (the model’s
            logit: {result.logit.toFixed(3)})
          </p>
        </>
      )}
    </section>
  );
}

function ActivationPatching() {
  const state = useLab((s) => s.interpret.patching);
  const text = useLab((s) => s.text);
  const corrupted = useLab((s) => s.corruptedText);
  const setCorrupted = useLab((s) => s.setCorruptedText);
  const result =
    state.result?.tool === 'activation-patching'
      ? (state.result as ActivationPatchingResult)
      : null;
  const maps = useMemo(() => (result ? patchingMatrices(result) : null), [result]);
  const scale = useMemo(
    () =>
      divergingScale(
        finiteExtent([
          1,
          ...(maps
            ? [...finiteExtent(maps.heads.values), ...finiteExtent(maps.positions.values)]
            : []),
        ]),
      ),
    [maps],
  );
  return (
    <section
      className="interpret-tool"
      data-testid="activation-patching"
      data-answer={result?.answer.id}
      data-foil={result?.foil.id}
      data-clean={result?.clean}
      data-corrupted={result?.corrupted}
    >
      <h3>Activation patching</h3>
      <AnalysedUnder result={result} testId="activation-patching" />
      <p className="caption">
        Run a corrupted prompt of the same length, then again with one head’s output (or the
        residual stream at one block’s input and position) taken from the clean run: how much of the
        logit difference answer − foil at the last position comes back? 1 = all of it, 0 = none.
      </p>
      <label className="field">
        corrupted prompt{' '}
        <input
          type="text"
          data-testid="corrupted-text"
          value={corrupted}
          placeholder="the clean prompt with a word changed"
          onChange={(e) => setCorrupted(e.target.value)}
        />
      </label>{' '}
      <button type="button" data-testid="corrupted-from-clean" onClick={() => setCorrupted(text)}>
        start from the clean prompt
      </button>
      {!corrupted.trim() ? (
        <p className="hint">Type a corrupted prompt to patch from the clean one.</p>
      ) : (
        <ToolStatus tool="activation-patching" state={state} testId="activation-patching" />
      )}
      {result && maps && (
        <>
          <p className="small">
            answer “{displayPiece(result.answer.piece)}” − foil “{displayPiece(result.foil.piece)}”:
            clean {result.clean.toFixed(3)}, corrupted {result.corrupted.toFixed(3)}
          </p>
          <div className="side-by-side">
            <Heatmap
              testId="patching-heads"
              label="fraction restored by patching each head"
              requestId={null}
              data={maps.heads}
              scale={scale}
              size={240}
              rowTitle="layer"
              colTitle="head"
              describe={(row, col) => describePatchCell(result, 'heads', row, col)}
            />
            <Heatmap
              testId="patching-positions"
              label="fraction restored by patching the residual at each layer and position"
              requestId={null}
              data={maps.positions}
              scale={scale}
              size={360}
              rowTitle="residual at the input of"
              colTitle="position (clean/corrupted)"
              describe={(row, col) => describePatchCell(result, 'positions', row, col)}
            />
          </div>
        </>
      )}
    </section>
  );
}

export function InterpretPanel() {
  const refresh = useLab((s) => s.refreshInterpret);
  const runDone = useLab((s) => s.run?.done ?? false);
  const causalMask = useLab((s) => s.causalMask);
  const usePositions = useLab((s) => s.usePositions);
  const ablated = useLab((s) => s.ablated);
  const under = describeInterventions(interventionsOf({ causalMask, usePositions, ablated }));
  // The tab opened, or the run on screen finished: ask for what is stale.
  useEffect(() => {
    if (runDone) refresh();
  }, [refresh, runDone]);
  return (
    <div className="interpret-panel" data-testid="interpret-panel">
      <p className="caption">
        Interpretability tools, computed live in the worker on this backend, on the model as the
        interventions on the left set it (the same masks and head gates as the run on screen).
      </p>
      <p className="small" data-testid="interpret-interventions">
        {under
          ? `Interventions in effect: ${under}.`
          : 'No interventions in effect: the tools read the unmodified model.'}
      </p>
      <LogitLens />
      <LogitAttribution />
      <ActivationPatching />
    </div>
  );
}
