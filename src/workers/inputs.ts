/**
 * A request's input as the model reads it: text through the checkpoint's tokenizer (or typed as
 * ids where it has none), with the special tokens the model expects around it, cut to the
 * context. Ids given as ids are used as they are, with their token types if given. Whether ids
 * lie in the vocabulary is the model's own check (`checkVocabulary`), made here before anything
 * is cut or sent, so that the untraced forward (whose batch driver does not check) is covered too.
 */
import { buildEncoderInput, type Tokenizer } from '../model/tokenizer';
import { HfTokenizer } from '../model/tokenizer/hf';
import type { Stack } from '../model/trace';
import { stacksOf, type ModelConfig } from '../model/config';
import { checkTokenTypes, checkVocabulary } from '../model/model';
import { EngineError } from './engineErrors';
import type { RunInput } from './protocol';

/** The ids of one forward: the (decoder or only) stack's, and an encoder–decoder's source. */
export interface Prepared {
  ids: number[];
  sourceIds?: number[];
  /** Token types of a BERT-style input (the second sentence is type 1). */
  tokenTypeIds?: number[];
  /** The first `[MASK]` of a masked LM's input: its predictions are the fill-in there. */
  maskPosition?: number;
}

/** What the `tokens` messages say: each stack's ids, and whether they were cut to the context. */
export interface StackIds {
  stack: Stack;
  ids: number[];
  truncated: boolean;
}

/** The stack whose tokens the user types and whose last position gets predictions. */
export function mainStack(config: ModelConfig): Stack {
  const stacks = stacksOf(config);
  return stacks[stacks.length - 1];
}

/** The forward's ids, and per stack what to tell the page. */
export function prepareInput(
  config: ModelConfig,
  tokenizer: Tokenizer | null,
  input: RunInput,
): { prepared: Prepared; stacks: StackIds[] } {
  const cut = (ids: number[], what: string) => {
    if (ids.length === 0)
      throw new EngineError('empty-input', `${what} is empty: give at least one token`);
    checkVocabulary(ids, config, what);
    const truncated = ids.length > config.contextLength;
    return { ids: truncated ? ids.slice(0, config.contextLength) : ids, truncated };
  };
  if (input.tokenTypeIds && (!input.ids || config.architecture === 'encoder-decoder')) {
    throw new EngineError('bad-input', 'token type ids go only with the ids of a one-stack model');
  }
  if (config.mlmHead && tokenizer instanceof HfTokenizer && !input.ids) {
    return encoderInput(config, tokenizer, input.text, cut);
  }
  if (config.architecture !== 'encoder-decoder') {
    const main = cut(
      input.ids ?? textIds(tokenizer, input.text, 'the input', 'source'),
      'the input',
    );
    const types = input.tokenTypeIds;
    if (types) checkTokenTypes(types, input.ids!.length, config);
    return {
      prepared: {
        ids: main.ids,
        ...(types ? { tokenTypeIds: types.slice(0, main.ids.length) } : {}),
      },
      stacks: [{ stack: mainStack(config), ...main }],
    };
  }
  // Marian-style: the source ends with </s>; the decoder reads the start token, then the target
  // so far (Hugging Face's labels shifted right: without their final </s>).
  const eos = tokenizer?.eosId ?? config.eosTokenId;
  const endsWithEos = (ids: number[]) =>
    tokenizer?.appendsEos || eos === null ? ids : [...ids, eos];
  const source = cut(
    input.sourceIds ??
      endsWithEos(textIds(tokenizer, input.sourceText, 'the source text', 'source')),
    'the source text',
  );
  const start = config.decoderStartTokenId;
  let target = input.ids;
  if (!target) {
    // An empty target is fine: the decoder start token alone asks for the first word.
    const labels =
      start !== null && !input.text?.trim()
        ? []
        : endsWithEos(textIds(tokenizer, input.text, 'the target text', 'target'));
    const shifted = eos === null ? labels : labels.slice(0, -1);
    target = start === null ? shifted : [start, ...shifted];
  }
  const decoder = cut(target, 'the target text');
  return {
    prepared: { ids: decoder.ids, sourceIds: source.ids },
    stacks: [
      { stack: 'encoder', ...source },
      { stack: 'decoder', ...decoder },
    ],
  };
}

/**
 * A masked LM's input from the text box: `[CLS]` … `[SEP]` (… `[SEP]`), token types for a second
 * sentence, and the first typed `[MASK]` (see `buildEncoderInput`).
 */
function encoderInput(
  config: ModelConfig,
  tokenizer: HfTokenizer,
  text: string | undefined,
  cut: (ids: number[], what: string) => { ids: number[]; truncated: boolean },
): { prepared: Prepared; stacks: StackIds[] } {
  if (!text || text.trim() === '') {
    throw new EngineError('empty-input', 'the input is empty: type some text first');
  }
  const built = buildEncoderInput(tokenizer, text);
  const main = cut(built.ids, 'the input');
  const tokenTypeIds = built.tokenTypeIds.slice(0, main.ids.length);
  const maskPosition = built.maskPositions.find((at) => at < main.ids.length);
  return {
    prepared: {
      ids: main.ids,
      tokenTypeIds,
      ...(maskPosition !== undefined ? { maskPosition } : {}),
    },
    stacks: [{ stack: mainStack(config), ...main }],
  };
}

/** Ids of a text as the tokenizer gives them (its own special tokens included, see `Tokenizer`). */
function textIds(
  tokenizer: Tokenizer | null,
  text: string | undefined,
  what: string,
  side: 'source' | 'target',
): number[] {
  if (!text || text.trim() === '') {
    throw new EngineError('empty-input', `${what} is empty: type some text first`);
  }
  if (tokenizer) {
    return side === 'target' && tokenizer.encodeTarget
      ? tokenizer.encodeTarget(text)
      : tokenizer.encode(text);
  }
  // Without a tokenizer the text is the ids themselves: "3 14 15".
  const ids = text
    .trim()
    .split(/[\s,]+/)
    .map(Number);
  if (ids.some((n) => !Number.isInteger(n))) {
    throw new EngineError(
      'bad-input',
      `this model has no tokenizer: type ${what} as token ids separated by spaces`,
    );
  }
  return ids;
}
