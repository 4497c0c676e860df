import { useLab } from '../context';
import { backendText } from '../lib/backendText';

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
 * Which tfjs backend runs the model, why it was chosen over others, and the GPU renderer; and a
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
  const { note, detail } = backendText(backend);
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
        {note && <span className="fallbacks"> · {note}</span>}
      </span>
      <RestartButton />
    </>
  );
}
