import { useMemo, useState } from 'react';
import { useLab } from '../context';
import { selectRunId, selectRunTokens } from '../store/selectors';
import { divergingScale, finiteExtent } from '../lib/colour';
import { displayPiece } from '../lib/pieces';
import { positionalSimilarity } from '../lib/positions';
import { Heatmap } from '../components/Heatmap';
import { Counterfactual } from '../components/Counterfactual';
import { RopeView } from './RopeView';
import { TokenTypesView } from './TokenTypesView';

/** The positional encodings actually added, and how similar positions are to each other. */
export function PositionsPanel() {
  const runId = useLab(selectRunId);
  const focusStack = useLab((s) => s.focus.stack);
  const cfg = useLab((s) => s.modelInfo?.config);
  const typeTable = useLab((s) => s.modelInfo?.tokenTypeEmbeddings);
  const kind = cfg?.positions;
  const usePositions = useLab((s) => s.usePositions);
  const setUsePositions = useLab((s) => s.setUsePositions);
  const [cosine, setCosine] = useState(false);
  const embedding = useLab((s) => {
    const trace = s.run?.trace;
    return trace?.[focusStack]?.embedding ?? trace?.decoder?.embedding ?? trace?.encoder?.embedding;
  });
  const positions = embedding?.positions;
  const tokens = useLab(selectRunTokens)?.[embedding?.stack ?? focusStack];
  const labels = useMemo(
    () =>
      Array.from(
        { length: positions?.shape[0] ?? 0 },
        (_, i) => `${i} ${displayPiece(tokens?.[i]?.piece ?? '')}`,
      ),
    [positions, tokens],
  );
  const similarity = useMemo(
    () => (positions ? positionalSimilarity(positions, cosine) : null),
    [positions, cosine],
  );
  const matrixData = useMemo(
    () =>
      positions
        ? {
            values: positions.data,
            rows: positions.shape[0],
            cols: positions.shape[1],
            rowLabels: labels,
            colLabels: Array.from({ length: positions.shape[1] }, (_, i) => String(i)),
          }
        : null,
    [positions, labels],
  );
  const simData = useMemo(
    () =>
      similarity && positions
        ? {
            values: similarity,
            rows: positions.shape[0],
            cols: positions.shape[0],
            rowLabels: labels,
            colLabels: labels,
          }
        : null,
    [similarity, positions, labels],
  );
  const posScale = useMemo(() => divergingScale(finiteExtent(positions?.data ?? [])), [positions]);
  const simScale = useMemo(() => divergingScale(finiteExtent(similarity ?? [])), [similarity]);
  return (
    <section
      className="positions-panel"
      data-testid="positions-panel"
      data-request-id={runId ?? undefined}
    >
      <p className="caption">
        Position encoding: <strong>{kind ?? '—'}</strong>.{' '}
        {kind === 'rotary'
          ? 'Queries and keys are rotated by their position'
          : 'Each row p_t is added to token t’s embedding'}
        ; without it, self-attention cannot tell word order apart. <Counterfactual />
      </p>
      <div className="toolbar">
        <label className="switch">
          <input
            type="checkbox"
            data-testid="positions-switch"
            checked={usePositions}
            disabled={kind === 'none'}
            onChange={(e) => setUsePositions(e.target.checked)}
          />
          add positions
        </label>
        <label className="switch">
          <input type="checkbox" checked={cosine} onChange={(e) => setCosine(e.target.checked)} />
          cosine similarity
        </label>
      </div>
      {kind === 'rotary' && cfg ? (
        <RopeView cfg={cfg} />
      ) : !positions ? (
        <p className="hint" data-testid="positions-absent">
          {kind === 'none'
            ? 'This model has no positional encoding.'
            : !usePositions
              ? 'Positions are switched off: the model sees a bag of tokens.'
              : 'Waiting for the embedding…'}
        </p>
      ) : (
        <div className="side-by-side">
          <div>
            <h3>positions p_t (t × feature)</h3>
            <Heatmap
              testId="positions-heatmap"
              label="positional encoding matrix"
              requestId={runId}
              data={matrixData}
              scale={posScale}
              size={320}
              rowTitle="position"
              colTitle="feature"
            />
          </div>
          <div>
            <h3>{cosine ? 'cos(p_i, p_j)' : 'p_i · p_j'}</h3>
            <Heatmap
              testId="positions-similarity"
              label="positional similarity"
              requestId={runId}
              data={simData}
              scale={simScale}
              size={320}
              rowTitle="position i"
              colTitle="position j"
            />
          </div>
        </div>
      )}
      {typeTable && (
        <TokenTypesView table={typeTable} tokens={tokens} typeIds={embedding?.tokenTypeIds} />
      )}
    </section>
  );
}
