/** A WordPiece tokenizer for BERT repos that ship only `vocab.txt`. See docs/tokenizer.md. */

import { HfTokenizer } from './hf';
import { isJsonObject } from './json';
import { TokenizerError } from './types';

const BERT_SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

/**
 * A WordPiece tokenizer from `vocab.txt` (one token a line, the line number is the id), built as
 * Hugging Face's `BertConverter` (transformers/convert_slow_tokenizer.py) builds a tokenizer.json:
 * BERT's normalizer (clean text, Chinese characters apart, lower-casing and accent stripping as
 * `tokenizer_config.json`'s `do_lower_case` / `strip_accents` say: lower-case by default, as
 * `BertTokenizer` does), BERT's pre-tokenizer, `##` continuations, `[CLS] a [SEP] b [SEP]`.
 */
export function hfTokenizerFromVocabTxt(
  vocabTxt: string,
  tokenizerConfig: unknown = {},
): HfTokenizer {
  const config = isJsonObject(tokenizerConfig) ? tokenizerConfig : {};
  const lines = vocabTxt.split('\n').map((line) => line.replace(/\r$/, ''));
  if (lines.at(-1) === '') lines.pop();
  const vocab: Record<string, number> = {};
  lines.forEach((token, id) => {
    if (!(token in vocab)) vocab[token] = id;
  });
  for (const name of ['[UNK]', '[CLS]', '[SEP]']) {
    if (!(name in vocab)) throw new TokenizerError(`vocab.txt: lacks the token ${name}`);
  }
  const lowercase = config.do_lower_case !== false;
  const stripAccents = typeof config.strip_accents === 'boolean' ? config.strip_accents : null;
  const tokenizerJson = {
    added_tokens: BERT_SPECIAL.filter((name) => name in vocab).map((name) => ({
      id: vocab[name],
      content: name,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: config.tokenize_chinese_chars !== false,
      strip_accents: stripAccents,
      lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'BertProcessing',
      sep: ['[SEP]', vocab['[SEP]']],
      cls: ['[CLS]', vocab['[CLS]']],
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab,
    },
  };
  return HfTokenizer.fromJson(tokenizerJson, config);
}
