import { useMemo } from 'react';
import type { Matrix } from '../../model/trace';
import type { TokenInfo } from '../../workers/protocol';
import { CATEGORICAL, divergingScale, finiteExtent } from '../lib/colour';
import { displayPiece } from '../lib/pieces';
import { positionalSimilarity } from '../lib/positions';
import { Heatmap } from '../components/Heatmap';

export interface TokenTypesViewProps {
  /** The model's token-type table `[types, d]` (ModelInfo.tokenTypeEmbeddings). */
  table: Matrix;
  /** The current input's tokens and the type each got; absent before the first run. */
  tokens?: TokenInfo[];
  typeIds?: number[];
}

/**
 * BERT's token-type (segment) embeddings: the rows of the table, and which token of the input got
 * which row added to it (type 1 from the first [SEP] the user typed on).
 */
export function TokenTypesView({ table, tokens, typeIds }: TokenTypesViewProps) {
  const [types, d] = table.shape;
  const data = useMemo(
    () => ({
      values: table.data,
      rows: types,
      cols: d,
      rowLabels: Array.from({ length: types }, (_, t) => `type ${t}`),
      colLabels: Array.from({ length: d }, (_, c) => String(c)),
    }),
    [table, types, d],
  );
  const scale = useMemo(() => divergingScale(finiteExtent(table.data)), [table]);
  const cosine = useMemo(
    () => (types > 1 ? positionalSimilarity(table, true)[1] : null),
    [table, types],
  );
  return (
    <div className="token-types" data-testid="token-types">
      <h3>token types (segments)</h3>
      <p className="caption">
        Row t of this table is added to every token of type t, with the token and position
        embeddings. Type 0 is the first sentence; type 1 starts after the first [SEP] you type (“a
        question [SEP] its context”).
        {cosine !== null && (
          <>
            {' '}
            cos(type 0, type 1) ={' '}
            <span data-testid="token-type-cosine" data-value={cosine}>
              {cosine.toFixed(3)}
            </span>
            .
          </>
        )}
      </p>
      <Heatmap
        testId="token-type-table"
        label="token-type embedding table"
        requestId={null}
        data={data}
        scale={scale}
        size={320}
        rowTitle="type"
        colTitle="feature"
      />
      {tokens && typeIds && (
        <ol className="token-type-strip" aria-label="token types of the input">
          {typeIds.map((t, i) => (
            <li
              key={i}
              data-testid="token-type"
              data-position={i}
              data-type={t}
              style={{ borderColor: CATEGORICAL[t % CATEGORICAL.length] }}
              title={`position ${i}: type ${t}`}
            >
              {displayPiece(tokens[i]?.piece ?? String(i))}
              <span className="small"> {t}</span>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
