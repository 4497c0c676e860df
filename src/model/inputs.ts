/** The one check of token ids against a model: non-empty, within its context, inside its vocabulary. */
import type { ModelConfig } from './config';

export class ForwardError extends Error {
  override name = 'ForwardError';
  constructor(
    readonly code: 'empty-input' | 'too-long' | 'bad-token' | 'missing-source' | 'cancelled',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Throws a ForwardError unless `ids` is non-empty, fits the context after `offset` earlier
 * tokens, and holds only ids of the vocabulary. `what` names the input in the message.
 */
/** Throws a ForwardError unless `types` has one id per token, each a token type of the model. */
export function checkTokenTypes(types: number[], tokens: number, cfg: ModelConfig): void {
  const n = cfg.typeVocabSize ?? 0;
  if (n === 0) {
    throw new ForwardError('bad-token', 'this model has no token types: give no token type ids');
  }
  if (types.length !== tokens) {
    throw new ForwardError(
      'bad-token',
      `${types.length} token type ids for ${tokens} tokens: give one per token`,
    );
  }
  for (const t of types) {
    if (!Number.isInteger(t) || t < 0 || t >= n)
      throw new ForwardError('bad-token', `token type id ${t} is outside 0–${n - 1}`);
  }
}

export function checkIds(ids: number[], cfg: ModelConfig, what: string, offset: number): void {
  if (ids.length === 0)
    throw new ForwardError('empty-input', `${what} is empty: give at least one token`);
  if (offset + ids.length > cfg.contextLength) {
    throw new ForwardError(
      'too-long',
      `${what} has ${offset + ids.length} tokens; this model's context holds ${cfg.contextLength}`,
    );
  }
  checkVocabulary(ids, cfg, what);
}

/** Throws a ForwardError (`bad-token`) unless every id is an integer of the vocabulary. */
export function checkVocabulary(ids: number[], cfg: ModelConfig, what: string): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) {
      throw new ForwardError(
        'bad-token',
        `${what}: token id ${id} is outside the vocabulary (0–${cfg.vocabSize - 1})`,
      );
    }
  }
}
