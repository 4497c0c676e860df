/**
 * Questions to the loaded model's tokenizer: how a token or a text is tokenized (the tokenizer
 * explorer), and the induction test's input of random tokens repeated.
 */
import { repeatedRandomTokens } from '../model/analysis/repeatedTokens';
import { explainText, explainToken } from '../model/tokenizer/explain';
import type { LoadedModel } from './loading';
import type { TokenizerAnswer, TokenizerQuery } from './protocol';

export function answerTokenizer(
  loaded: LoadedModel | null,
  query: TokenizerQuery,
): TokenizerAnswer {
  if (!loaded) return { kind: 'error', message: 'no model is loaded yet' };
  const { tokenizer, model } = loaded;
  try {
    if (query.kind === 'repeat') {
      const vocab = model.config.vocabSize;
      return {
        kind: 'repeat',
        ...repeatedRandomTokens(tokenizer, vocab, query.length, query.seed),
      };
    }
    if (!tokenizer) {
      return { kind: 'error', message: 'this model has no tokenizer: its input is token ids' };
    }
    const explanation =
      query.kind === 'explain-token'
        ? explainToken(tokenizer, query.id)
        : explainText(tokenizer, query.text);
    return { kind: 'explain', explanation };
  } catch (e) {
    return { kind: 'error', message: e instanceof Error ? e.message : String(e) };
  }
}
