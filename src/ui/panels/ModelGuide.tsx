import { useLab } from '../context';
import { showsExample } from '../lib/examples';

/**
 * The shown model's how-to, on the page rather than in a tooltip, and its example input offered
 * whenever the input is something else (after switching models, or after typing).
 */
export function ModelGuide() {
  const entry = useLab((s) => s.models.find((m) => m.name === s.modelName && s.modelInfo));
  const text = useLab((s) => s.text);
  const sourceText = useLab((s) => s.sourceText);
  const applyExample = useLab((s) => s.applyExample);
  if (!entry || (!entry.howTo && !entry.example)) return null;
  const example = entry.example;
  return (
    <section className="panel model-guide" aria-labelledby="model-guide-title">
      <h2 id="model-guide-title">{entry.title}</h2>
      {entry.howTo && (
        <p className="howto" data-testid="model-howto">
          {entry.howTo}
        </p>
      )}
      {example && !showsExample(example, { text, sourceText }) && (
        <button
          type="button"
          data-testid="use-example"
          title={example.source ? `${example.source} → ${example.text}` : example.text}
          onClick={applyExample}
        >
          use this model’s example
        </button>
      )}
    </section>
  );
}
