import { useMemo } from 'react';
import { useLab } from '../context';
import { CATEGORICAL, sequentialScale } from '../lib/colour';
import { kvGroups, kvGroupSuffix, kvSharingCaption } from '../lib/kvGroups';
import { MiniHeatmap } from '../components/MiniHeatmap';
import { Counterfactual } from '../components/Counterfactual';
import { selectNoData, selectRunId, selectTrace, thumbnailsOf } from '../store/selectors';
import { attentionBlocks } from '../store/shape';

/** Every head of every layer as a thumbnail: click to focus, shift-click to ablate. */
export function ModelView() {
  const cfg = useLab((s) => s.modelInfo?.config);
  const noData = useLab(selectNoData);
  // Nothing to show: no thumbnails of an earlier text that would look like this one's.
  const trace = useLab((s) => (noData ? null : selectTrace(s)));
  const runId = useLab(selectRunId);
  const focus = useLab((s) => s.focus);
  const setFocus = useLab((s) => s.setFocus);
  const toggleAblation = useLab((s) => s.toggleAblation);
  const scale = useMemo(() => sequentialScale(), []);
  if (!cfg) return null;
  const blocks = attentionBlocks(cfg);
  const groups = kvGroups(cfg);
  const sharing = kvSharingCaption(cfg);
  const groupColour = (h: number) => CATEGORICAL[(groups?.[h] ?? 0) % CATEGORICAL.length];
  const size = Math.max(36, Math.min(72, Math.floor(560 / cfg.nHeads)));
  return (
    <section className="panel model-view" aria-labelledby="model-view-title">
      <h2 id="model-view-title">
        Model view <Counterfactual />
      </h2>
      <p className="caption">Layers × heads. Click a head to focus it; shift-click ablates it.</p>
      {groups && (
        <p
          className="caption"
          data-testid="kv-sharing"
          data-query-heads={cfg.nHeads}
          data-kv-heads={groups[groups.length - 1] + 1}
        >
          Grouped-query attention: {sharing}. Heads under the same colour read the same keys and
          values; each still has its own queries, so its own pattern.
        </p>
      )}
      {noData && (
        <p className="hint" data-testid="model-view-empty">
          {noData}
        </p>
      )}
      {blocks.map((b) => (
        <div key={`${b.stack}-${b.kind}`} className="model-block">
          {blocks.length > 1 && <h3>{b.title}</h3>}
          <div
            className="head-grid"
            data-empty={noData ? 'true' : undefined}
            style={{ gridTemplateColumns: `auto repeat(${cfg.nHeads}, ${size}px)` }}
          >
            <span />
            {Array.from({ length: cfg.nHeads }, (_, h) => (
              <span key={h} className="small grid-label">
                H{h}
                {groups && (
                  <span
                    className="kv-label"
                    data-testid="kv-label"
                    data-head={h}
                    data-kv-group={groups[h]}
                    style={{ borderColor: groupColour(h) }}
                  >
                    kv{groups[h]}
                  </span>
                )}
              </span>
            ))}
            {Array.from({ length: b.layers }, (_, layer) => {
              const at = { stack: b.stack, layer, kind: b.kind };
              const shown = trace && thumbnailsOf({ trace }, at);
              return [
                // A layer the running request has not reached: last pictures, dimmed (styles.css).
                <span
                  key={`l${layer}`}
                  className="small grid-label"
                  title={shown ? undefined : 'updating: the previous pictures are shown'}
                >
                  L{layer}
                  {shown ? '' : ' …'}
                </span>,
                ...Array.from({ length: cfg.nHeads }, (_, head) => {
                  const focused =
                    focus.stack === b.stack &&
                    focus.kind === b.kind &&
                    focus.layer === layer &&
                    focus.head === head;
                  const ablated = shown ? shown.headGate[head] === 0 : false;
                  return (
                    <button
                      key={`${layer}-${head}`}
                      type="button"
                      className={`head-cell${focused ? ' focused' : ''}${ablated ? ' ablated' : ''}`}
                      data-testid="head-cell"
                      data-stack={b.stack}
                      data-kind={b.kind}
                      data-layer={layer}
                      data-head={head}
                      data-kv-group={groups?.[head]}
                      data-ablated={ablated}
                      aria-pressed={focused}
                      aria-label={`${b.title} layer ${layer} head ${head}${kvGroupSuffix(cfg, head)}${ablated ? ' (ablated)' : ''}`}
                      onClick={(e) => {
                        if (e.shiftKey) {
                          toggleAblation({
                            stack: b.stack,
                            layer,
                            head,
                            ...(b.kind === 'cross' ? { attention: b.kind } : {}),
                          });
                        } else setFocus({ stack: b.stack, layer, head, kind: b.kind });
                      }}
                    >
                      <MiniHeatmap
                        matrix={shown?.matrix ?? null}
                        index={head}
                        mask={shown?.mask}
                        scale={scale}
                        hatchAll={ablated}
                        requestId={runId}
                        size={size}
                      />
                    </button>
                  );
                }),
              ];
            })}
          </div>
        </div>
      ))}
    </section>
  );
}
