import type { Stack } from '../../model/trace';
import type { TokenInfo } from '../../workers/protocol';
import { useLab } from '../context';
import { displayPiece, pieceTitle } from '../lib/pieces';
import { selectRunError, selectRunTokens, selectRunTruncated } from '../store/selectors';

function TokenChips({ tokens, stack }: { tokens: TokenInfo[]; stack: Stack }) {
  const query = useLab((s) => s.query);
  const setQuery = useLab((s) => s.setQuery);
  const focusStack = useLab((s) => s.focus.stack);
  return (
    <ol className="token-chips" data-testid={`tokens-${stack}`} aria-label={`${stack} tokens`}>
      {tokens.map((t, i) => (
        <li key={i}>
          <button
            type="button"
            className={`token-chip${focusStack === stack && i === query ? ' selected' : ''}`}
            data-testid="token-chip"
            data-id={t.id}
            title={`#${i} · ${pieceTitle(t.id, t.piece)}`}
            onClick={() => setQuery(i)}
          >
            {displayPiece(t.piece)}
          </button>
        </li>
      ))}
    </ol>
  );
}

/** The text box(es), the tokens they became, and what went wrong with them. */
export function InputPanel() {
  const text = useLab((s) => s.text);
  const sourceText = useLab((s) => s.sourceText);
  const setText = useLab((s) => s.setText);
  const setSourceText = useLab((s) => s.setSourceText);
  const encDec = useLab((s) => s.modelInfo?.config.architecture === 'encoder-decoder');
  const context = useLab((s) => s.modelInfo?.config.contextLength);
  const truncated = useLab(selectRunTruncated);
  const error = useLab(selectRunError);
  const tokens = useLab(selectRunTokens);
  const empty = encDec ? sourceText.trim() === '' : text.trim() === '';
  return (
    <section className="panel input-panel" aria-labelledby="input-title">
      <h2 id="input-title">Input</h2>
      {encDec && (
        <label className="field">
          source (encoder)
          <textarea
            data-testid="source-input"
            value={sourceText}
            rows={2}
            spellCheck={false}
            onChange={(e) => setSourceText(e.target.value)}
          />
        </label>
      )}
      <label className="field">
        {encDec ? 'target prefix (decoder)' : 'text'}
        <textarea
          data-testid="token-input"
          value={text}
          rows={3}
          spellCheck={false}
          onChange={(e) => setText(e.target.value)}
        />
      </label>
      {empty && (
        <p className="hint" data-testid="empty-hint">
          {encDec
            ? 'Type a source sentence (for the dates model, a date such as “3 March 1999”) to see attention.'
            : 'Type some text to see how each token attends to the ones before it.'}
        </p>
      )}
      {truncated && (
        <p className="warning" data-testid="truncation-notice">
          The input is longer than the model’s context of {context} tokens: only the first {context}{' '}
          are shown.
        </p>
      )}
      {error && error.code !== 'empty-input' && (
        <p className="warning" data-testid="run-error">
          {error.message}
        </p>
      )}
      {tokens?.encoder && encDec && <TokenChips tokens={tokens.encoder} stack="encoder" />}
      {tokens?.decoder && <TokenChips tokens={tokens.decoder} stack="decoder" />}
      {!encDec && tokens?.encoder && <TokenChips tokens={tokens.encoder} stack="encoder" />}
    </section>
  );
}
