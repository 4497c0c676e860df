import { useLab } from '../context';
import { groupNotices } from '../lib/notices';

/**
 * Engine notices and errors, newest first, repeats counted, each dismissable; one that says the
 * engine is stopped or stuck offers to restart it.
 */
export function Notices() {
  const notices = useLab((s) => s.notices);
  const dismiss = useLab((s) => s.dismissNotice);
  const restart = useLab((s) => s.restartEngine);
  return (
    <div className="notices" data-testid="notices" role="status" aria-live="polite">
      {groupNotices(notices).map(({ notice: n, ids, count }) => (
        <p
          key={ids[0]}
          className={`notice notice-${n.level}`}
          data-level={n.level}
          data-count={count}
        >
          {n.text}
          {count > 1 && <span className="notice-count"> (×{count})</span>}
          {n.action === 'restart' && (
            <button
              type="button"
              data-testid="notice-restart-engine"
              onClick={() => {
                ids.forEach(dismiss);
                restart();
              }}
            >
              restart the engine
            </button>
          )}
          <button type="button" aria-label="dismiss" onClick={() => ids.forEach(dismiss)}>
            ×
          </button>
        </p>
      ))}
    </div>
  );
}
