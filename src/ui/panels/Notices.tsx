import { useLab } from '../context';

/** Engine notices and errors, newest last, each dismissable. */
export function Notices() {
  const notices = useLab((s) => s.notices);
  const dismiss = useLab((s) => s.dismissNotice);
  return (
    <div className="notices" data-testid="notices" role="status" aria-live="polite">
      {notices.map((n) => (
        <p key={n.id} className={`notice notice-${n.level}`} data-level={n.level}>
          {n.text}
          <button type="button" aria-label="dismiss" onClick={() => dismiss(n.id)}>
            ×
          </button>
        </p>
      ))}
    </div>
  );
}
