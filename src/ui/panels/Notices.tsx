import { useLab } from '../context';

/**
 * Engine notices and errors, newest last, each dismissable; one that says the engine is stopped
 * or stuck offers to restart it.
 */
export function Notices() {
  const notices = useLab((s) => s.notices);
  const dismiss = useLab((s) => s.dismissNotice);
  const restart = useLab((s) => s.restartEngine);
  return (
    <div className="notices" data-testid="notices" role="status" aria-live="polite">
      {notices.map((n) => (
        <p key={n.id} className={`notice notice-${n.level}`} data-level={n.level}>
          {n.text}
          {n.action === 'restart' && (
            <button
              type="button"
              data-testid="notice-restart-engine"
              onClick={() => {
                dismiss(n.id);
                restart();
              }}
            >
              restart the engine
            </button>
          )}
          <button type="button" aria-label="dismiss" onClick={() => dismiss(n.id)}>
            ×
          </button>
        </p>
      ))}
    </div>
  );
}
