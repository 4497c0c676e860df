import { useLab } from '../context';

/** Restarting is always possible: the way out of an engine that hangs without a word. */
function RestartButton() {
  const restart = useLab((s) => s.restartEngine);
  return (
    <button
      type="button"
      className="restart-engine"
      data-testid="restart-engine"
      title="Restart the engine: a fresh worker, the model on screen loaded again, the last run again"
      onClick={restart}
    >
      restart
    </button>
  );
}

/**
 * Which tfjs backend runs the model, why better ones were not used, and the GPU renderer; and a
 * button that restarts the engine.
 */
export function BackendBadge() {
  const backend = useLab((s) => s.backend);
  if (!backend) {
    return (
      <>
        <span className="backend-badge pending" data-testid="backend-badge">
          starting engine…
        </span>
        <RestartButton />
      </>
    );
  }
  const detail = [backend.renderer, ...backend.fallbacks].filter(Boolean).join('\n');
  return (
    <>
      <span
        className={`backend-badge backend-${backend.backend}`}
        data-testid="backend-badge"
        data-backend={backend.backend}
        title={detail}
      >
        <strong>{backend.backend}</strong>
        {backend.renderer && <span className="renderer"> · {backend.renderer}</span>}
        {backend.fallbacks.length > 0 && (
          <span className="fallbacks"> · fell back: {backend.fallbacks.join('; ')}</span>
        )}
      </span>
      <RestartButton />
    </>
  );
}
