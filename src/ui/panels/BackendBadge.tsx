import { useLab } from '../context';

/** Which tfjs backend runs the model, why better ones were not used, and the GPU renderer. */
export function BackendBadge() {
  const backend = useLab((s) => s.backend);
  if (!backend) {
    return (
      <span className="backend-badge pending" data-testid="backend-badge">
        starting engine…
      </span>
    );
  }
  const detail = [backend.renderer, ...backend.fallbacks].filter(Boolean).join('\n');
  return (
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
  );
}
