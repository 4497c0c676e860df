import { useState } from 'react';
import type { TokenExplanation } from '../../workers/protocol';
import { useLab } from '../context';
import { displayPiece } from '../lib/pieces';
import { selectRunTokens } from '../store/selectors';

const chips = (pieces: string[]) =>
  pieces.map((p, i) => (
    <span key={i} className="token-chip">
      {displayPiece(p)}
    </span>
  ));

function Explanation({ e }: { e: TokenExplanation }) {
  if (e.scheme === 'bpe') {
    const merges = e.steps.length - 1;
    return (
      <>
        <p className="caption">
          Byte-pair encoding: the text starts as {e.steps[0].pieces.length} bytes (or characters),
          then each merge rule that applies, lowest rank first, joins a pair everywhere in it:{' '}
          {merges} merge{merges === 1 ? '' : 's'} to {e.ids.length} token
          {e.ids.length === 1 ? '' : 's'} (ids {e.ids.join(', ')}).
        </p>
        <ol className="merge-steps" data-testid="tokenizer-merges" data-merges={merges}>
          {e.steps.map((step, i) => (
            <li key={i} data-testid="tokenizer-step">
              <span className="merge-rule">
                {step.merged
                  ? `${displayPiece(step.merged[0])} + ${displayPiece(step.merged[1])} → ${displayPiece(step.merged.join(''))}`
                  : 'bytes'}
              </span>{' '}
              {chips(step.pieces)}
            </li>
          ))}
        </ol>
      </>
    );
  }
  if (e.scheme === 'sentencepiece') {
    const total = e.pieces.reduce((sum, p) => sum + p.score, 0);
    return (
      <>
        <p className="caption">
          SentencePiece (unigram): of all the ways to cut the text into pieces of the model, the one
          whose scores (log-probabilities) sum highest: {total.toFixed(2)}.
        </p>
        <table className="piece-scores" data-testid="tokenizer-pieces">
          <tbody>
            {e.pieces.map((p, i) => (
              <tr key={i}>
                <td>{chips([p.piece])}</td>
                <td>{p.score.toFixed(3)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </>
    );
  }
  return (
    <>
      <p className="caption">
        {e.note}. Ids {e.ids.join(', ')}.
      </p>
      <p data-testid="tokenizer-pieces">{chips(e.pieces)}</p>
    </>
  );
}

/**
 * The tokenizer explorer: how any token of the run (click it) or any typed text is tokenized,
 * in the terms of the model's tokenizer (the worker answers: the tokenizer lives there).
 */
export function TokenizerPanel() {
  const tokens = useLab(selectRunTokens);
  const answer = useLab((s) => s.tokenizerAnswer);
  const explainToken = useLab((s) => s.explainToken);
  const explainText = useLab((s) => s.explainText);
  const [typed, setTyped] = useState('');
  const shown = tokens?.decoder ?? tokens?.encoder ?? [];
  const explanation = answer?.kind === 'explain' ? answer.explanation : null;
  return (
    <section
      className="tokenizer-explorer"
      data-testid="tokenizer-explorer"
      data-scheme={explanation?.scheme ?? ''}
      data-text={explanation?.text ?? ''}
    >
      <p className="caption">
        Click a token of the input, or type a word, to see how it was built.
      </p>
      <div className="token-chips" role="list">
        {shown.map((t, i) => (
          <button
            key={i}
            type="button"
            role="listitem"
            className="token-chip"
            data-testid="tokenizer-chip"
            data-token-id={t.id}
            title={`id ${t.id}`}
            onClick={() => explainToken(t.id)}
          >
            {displayPiece(t.piece)}
          </button>
        ))}
      </div>
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          if (typed) explainText(typed);
        }}
      >
        <input
          value={typed}
          placeholder="a word or any text"
          aria-label="text to tokenize"
          data-testid="tokenizer-input"
          onChange={(e) => setTyped(e.target.value)}
        />
        <button type="submit" data-testid="tokenizer-explain">
          explain
        </button>
      </form>
      {answer?.kind === 'error' && <p className="error">{answer.message}</p>}
      {explanation && (
        <div data-testid="tokenizer-answer" data-ids={explanation.ids.join(' ')}>
          <h3>“{displayPiece(explanation.text)}”</h3>
          <Explanation e={explanation} />
        </div>
      )}
    </section>
  );
}
