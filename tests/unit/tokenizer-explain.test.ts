/**
 * The tokenizer explorer's answers (model/tokenizer/explain.ts): BPE merges on the shipped BPE,
 * SentencePiece pieces and scores on the Marian fixture and a Unigram tokenizer.json, the pieces
 * of the other schemes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explainText, explainToken, mergesOf } from '../../src/model/tokenizer/explain';
import { HfTokenizer } from '../../src/model/tokenizer/hf';
import { marianTokenizer } from '../../src/model/tokenizer/marian';
import { SentencePieceProcessor } from '../../src/model/tokenizer/sentencepiece';
import { gpt2Tokenizer, tokenizerFromJson } from '../../src/model/tokenizer';
import { SAMPLE_TEXTS } from './tokenizerTestText';

const MODELS = join(import.meta.dirname, '..', '..', 'public', 'models');
const shippedTokenizer = (name: string) =>
  tokenizerFromJson(JSON.parse(readFileSync(join(MODELS, name, 'lab-tokenizer.json'), 'utf8')));

describe('tokenizer explorer', () => {
  it('names the merge each split makes', () => {
    const steps = mergesOf([['a', 'b', 'c'], ['ab', 'c'], ['abc']]);
    expect(steps.map((s) => s.merged)).toEqual([null, ['a', 'b'], ['ab', 'c']]);
  });

  it('BPE: a token is built from its bytes, one merge at a time, and ends as itself', () => {
    const bpe = shippedTokenizer('lm-prenorm');
    const ids = bpe.encode('First Citizen:\nBefore we proceed any further, hear me speak.');
    const long = ids.filter((id) => new TextEncoder().encode(bpe.decode([id])).length >= 4);
    expect(long.length).toBeGreaterThan(3);
    for (const id of long) {
      const e = explainToken(bpe, id);
      if (e.scheme !== 'bpe') throw new Error('expected BPE');
      const text = bpe.decode([id]);
      expect(e.ids).toEqual([id]);
      expect(e.steps[0].pieces).toHaveLength(new TextEncoder().encode(text).length);
      expect(e.steps.at(-1)!.pieces).toEqual([bpe.piece(id)]);
      for (let s = 1; s < e.steps.length; s++) {
        const [left, right] = e.steps[s].merged!;
        expect(e.steps[s].pieces).toContain(left + right);
        expect(e.steps[s].pieces.length).toBeLessThan(e.steps[s - 1].pieces.length);
      }
    }
  });

  it('GPT-2: tiktoken’s merges, ending in the tokens gpt-tokenizer gives', async () => {
    const gpt2 = await gpt2Tokenizer();
    for (const text of [...SAMPLE_TEXTS, ' unbelievably', 'Transformers attend']) {
      const e = explainText(gpt2, text);
      if (e.scheme !== 'bpe') throw new Error('expected BPE');
      expect(e.steps.at(-1)!.pieces, JSON.stringify(text)).toEqual(
        e.ids.map((id) => gpt2.piece(id)),
      );
      expect(e.steps[0].pieces).toHaveLength(new TextEncoder().encode(text).length);
    }
    const e = explainToken(gpt2, gpt2.encode(' unbelievably')[0]);
    expect(e.scheme === 'bpe' && e.steps.length).toBeGreaterThan(3);
  });

  it('SentencePiece: the pieces and their scores in the model', () => {
    const dir = join(import.meta.dirname, 'data', 'spm');
    const spm = (name: string) => new Uint8Array(readFileSync(join(dir, `${name}.spm`)));
    const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8'));
    const marian = marianTokenizer({ sourceSpm: spm('source'), targetSpm: spm('target'), vocab });
    const e = explainText(marian, 'Hello, world!');
    if (e.scheme !== 'sentencepiece') throw new Error('expected SentencePiece');
    const source = SentencePieceProcessor.fromBytes(spm('source'));
    const { pieces, ids } = source.encode('Hello, world!');
    expect(e.pieces.map((p) => p.piece)).toEqual(pieces);
    expect(e.pieces.map((p) => p.score)).toEqual(ids.map((id) => source.pieces[id].score));
    expect(e.ids).toEqual(marian.encode('Hello, world!').slice(0, -1));
  });

  it('Unigram tokenizer.json: the pieces and the scores the file gives them', () => {
    const vocab: [string, number][] = [
      ['<unk>', 0],
      ['▁', -2],
      ['▁a', -3],
      ['b', -4],
      ['▁ab', -5],
      ['a', -6],
    ];
    const unigram = HfTokenizer.fromJson({
      model: { type: 'Unigram', unk_id: 0, vocab },
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' },
      decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' },
    });
    for (const text of ['ab', 'ab ba']) {
      const e = explainText(unigram, text);
      if (e.scheme !== 'sentencepiece') throw new Error('expected scored pieces');
      expect(e.ids).toEqual(unigram.encode(text));
      expect(e.pieces).toEqual(e.ids.map((id) => ({ piece: vocab[id][0], score: vocab[id][1] })));
    }
    // The best split: ▁ab (−5) beats ▁a + b (−7).
    expect(explainText(unigram, 'ab')).toMatchObject({ pieces: [{ piece: '▁ab', score: -5 }] });
  });

  it('WordPiece tokenizer.json: the tokens and ids, and a note that there is no more', () => {
    const vocab = ['[UNK]', 'un', '##aff', '##able'];
    const wordpiece = HfTokenizer.fromJson({
      model: {
        type: 'WordPiece',
        unk_token: '[UNK]',
        continuing_subword_prefix: '##',
        max_input_chars_per_word: 100,
        vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      },
      pre_tokenizer: { type: 'BertPreTokenizer' },
    });
    expect(explainText(wordpiece, 'unaffable')).toMatchObject({
      scheme: 'pieces',
      ids: [1, 2, 3],
      pieces: ['un', '##aff', '##able'],
      note: expect.stringMatching(/WordPiece/),
    });
  });

  it('characters: one token each, nothing merged', () => {
    const chars = shippedTokenizer('induction');
    const e = explainText(chars, 'abc');
    expect(e).toMatchObject({ scheme: 'pieces', pieces: ['a', 'b', 'c'] });
  });
});
