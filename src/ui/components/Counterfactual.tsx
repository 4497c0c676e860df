import { useLab } from '../context';
import { counterfactuals, selectRunInterventions } from '../store/selectors';
import type { RunState } from '../store/types';

/**
 * "Counterfactual: causal mask off" on every panel drawn from a run made under an intervention,
 * so a picture of a broken model is never mistaken for the model. Without `interventions`: those
 * of the run on screen.
 */
export function Counterfactual({
  interventions,
}: {
  interventions?: RunState['interventions'] | null;
}) {
  const current = useLab(selectRunInterventions);
  const causal = useLab((s) => s.modelInfo?.config.architecture !== 'encoder-only');
  const labels = counterfactuals(interventions === undefined ? current : interventions, causal);
  if (labels.length === 0) return null;
  return (
    <span className="counterfactual" data-testid="counterfactual" role="note">
      counterfactual: {labels.join(', ')}
    </span>
  );
}
