import { useLab } from '../context';

/** What a panel drawn from q, k and v says of a run that did not capture them. */
export function NoQKV() {
  const runNow = useLab((s) => s.runNow);
  return (
    <p className="hint">
      This run did not capture q, k and v.{' '}
      <button type="button" onClick={runNow}>
        run again with them
      </button>
    </p>
  );
}
