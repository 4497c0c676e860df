import { useLab } from '../context';
import { counterfactuals } from '../store/selectors';
import type { RunState } from '../store/types';

/**
 * "Counterfactual: causal mask off" on every panel drawn from a run made under an intervention,
 * so a picture of a broken model is never mistaken for the model.
 */
export function Counterfactual({ run }: { run?: RunState | null }) {
  const current = useLab((s) => s.run);
  const causal = useLab((s) => s.modelInfo?.config.architecture !== 'encoder-only');
  const labels = counterfactuals(run === undefined ? current : run, causal);
  if (labels.length === 0) return null;
  return (
    <span className="counterfactual" data-testid="counterfactual" role="note">
      counterfactual: {labels.join(', ')}
    </span>
  );
}
