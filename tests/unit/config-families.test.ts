/**
 * config.json of the Llama, Qwen2, GPT-Neo, BERT and DistilBERT families: both forms Llama and
 * Qwen2 files come in, the fields each family spells its own way, and a refusal naming each
 * option or architecture the lab does not run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, headDim, kvHeadOf, parseConfig } from '../../src/model/config';
import { FIXTURES } from './helpers';

function config(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES, name, 'config.json'), 'utf8'));
}

/** The 5.x form transformers 5.17.0 writes for the same model. */
function newForm(c: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ...c,
    dtype: c.torch_dtype,
    pad_token_id: null,
    rope_parameters: { rope_theta: c.rope_theta, rope_type: 'default' },
    transformers_version: '5.17.0',
  };
  for (const key of ['rope_theta', 'torch_dtype', 'rope_scaling']) delete out[key];
  return out;
}

function refusal(json: unknown): ConfigError {
  try {
    parseConfig(json);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('the config was accepted');
}

describe('Llama and Qwen2', () => {
  it('llama-tiny-a: RMSNorm, RoPE θ from the top level, 2 KV heads for 4 query heads, untied', () => {
    const cfg = parseConfig(config('llama-tiny-a'));
    expect(cfg).toMatchObject({
      family: 'llama',
      architecture: 'decoder-only',
      dModel: 40,
      nHeads: 4,
      nKvHeads: 2,
      dFF: 72,
      positions: 'rotary',
      ropeTheta: 500000,
      normKind: 'rms',
      mlp: 'gated',
      activation: 'swish',
      layerNormEps: 1e-5,
      tiedEmbeddings: false,
      attentionBias: false,
    });
    expect(headDim(cfg)).toBe(10);
    expect([0, 1, 2, 3].map((h) => kvHeadOf(cfg, h))).toEqual([0, 0, 1, 1]);
  });

  for (const name of ['llama-tiny-a', 'qwen2-tiny-a']) {
    it(`${name}: the 4.x form (rope_theta, torch_dtype) and the 5.x form (rope_parameters, dtype) agree`, () => {
      const old = config(name);
      expect(old.rope_parameters).toBeUndefined();
      expect(parseConfig(newForm(old))).toEqual(parseConfig(old));
    });
  }

  it('5.x form: θ is read from rope_parameters, not the default', () => {
    const c = newForm(config('llama-tiny-a'));
    c.rope_parameters = { rope_theta: 1234, rope_type: 'default' };
    expect(parseConfig(c).ropeTheta).toBe(1234);
  });

  it('qwen2-tiny-a: one KV head shared by all, q/k/v biases, tied', () => {
    const cfg = parseConfig(config('qwen2-tiny-a'));
    expect(cfg).toMatchObject({
      family: 'qwen2',
      nKvHeads: 1,
      attentionBias: true,
      tiedEmbeddings: true,
    });
    expect([0, 1, 2, 3].map((h) => kvHeadOf(cfg, h))).toEqual([0, 0, 0, 0]);
  });

  it('an explicit head_dim other than hidden_size / heads is kept', () => {
    expect(headDim(parseConfig({ ...config('llama-tiny-a'), head_dim: 16 }))).toBe(16);
  });

  const refused: [string, Record<string, unknown>, RegExp][] = [
    [
      'rope_scaling llama3',
      { rope_scaling: { rope_type: 'llama3', factor: 8 } },
      /rope_scaling type "llama3"/,
    ],
    [
      'rope_scaling linear (old "type" key)',
      { rope_scaling: { type: 'linear', factor: 2 } },
      /"linear"/,
    ],
    [
      'rope_parameters yarn',
      { rope_parameters: { rope_theta: 1e4, rope_type: 'yarn' } },
      /rope_parameters type "yarn"/,
    ],
    ['KV heads that do not divide the heads', { num_key_value_heads: 3 }, /3 key\/value heads/],
    ['mlp_bias', { mlp_bias: true }, /mlp_bias/],
    [
      'a classifier',
      { architectures: ['LlamaForSequenceClassification'] },
      /LlamaForSequenceClassification.*LlamaForCausalLM/,
    ],
  ];
  for (const [what, patch, message] of refused) {
    it(`refuses ${what}, naming it`, () => {
      expect(refusal({ ...config('llama-tiny-a'), ...patch }).message).toMatch(message);
    });
  }

  it("refuses Qwen2's use_sliding_window: true, naming it", () => {
    const e = refusal({ ...config('qwen2-tiny-a'), use_sliding_window: true, sliding_window: 4 });
    expect(e.code).toBe('unsupported-model');
    expect(e.message).toMatch(/use_sliding_window/);
  });
});

describe('GPT-Neo', () => {
  it('gptneo-tiny-a: attention_types expanded, window 4 on local layers, intermediate_size null → 4·d', () => {
    const cfg = parseConfig(config('gptneo-tiny-a'));
    expect(cfg).toMatchObject({
      family: 'gpt-neo',
      nLayers: 4,
      nHeads: 4,
      dFF: 128,
      unscaledScores: true,
      attentionWindows: [null, 4, null, 4],
      activation: 'gelu_new',
      tiedEmbeddings: true,
    });
  });

  it('attention_types with several entries expand in order', () => {
    const c = {
      ...config('gptneo-tiny-a'),
      attention_types: [
        [['local'], 1],
        [['global', 'local'], 1],
        [['global'], 1],
      ],
    };
    expect(parseConfig(c).attentionWindows).toEqual([4, null, 4, null]);
  });

  it('refuses attention_types that do not cover num_layers', () => {
    const e = refusal({ ...config('gptneo-tiny-a'), attention_types: [[['global', 'local'], 1]] });
    expect(e.message).toMatch(/expands to 2 layers but num_layers is 4/);
  });

  it('refuses an attention type it does not know', () => {
    expect(
      refusal({ ...config('gptneo-tiny-a'), attention_types: [[['sparse'], 4]] }).message,
    ).toMatch(/attention_types/);
  });
});

describe('BERT and DistilBERT', () => {
  it('bert-tiny-a: encoder-only, post-norm, erf GELU, token types, embedding norm, MLM head', () => {
    expect(parseConfig(config('bert-tiny-a'))).toMatchObject({
      family: 'bert',
      architecture: 'encoder-only',
      norm: 'post',
      activation: 'gelu',
      layerNormEps: 1e-12,
      typeVocabSize: 2,
      embeddingNorm: true,
      mlmHead: true,
      finalNorm: false,
      padTokenId: 0,
    });
  });

  it('distilbert-tiny-a: dim / hidden_dim / n_layers / n_heads, no token types', () => {
    const cfg = parseConfig(config('distilbert-tiny-a'));
    expect(cfg).toMatchObject({ family: 'distilbert', dModel: 24, dFF: 48, nLayers: 2, nHeads: 4 });
    expect(cfg.typeVocabSize).toBeUndefined();
  });

  it('refuses relative position embeddings and BERT as a decoder, naming them', () => {
    const bert = config('bert-tiny-a');
    expect(refusal({ ...bert, position_embedding_type: 'relative_key' }).message).toMatch(
      /relative_key/,
    );
    expect(refusal({ ...bert, is_decoder: true }).message).toMatch(/is_decoder/);
  });

  it('refuses a BERT classifier, naming the classes it runs', () => {
    const e = refusal({
      ...config('bert-tiny-a'),
      architectures: ['BertForSequenceClassification'],
    });
    expect(e.code).toBe('unsupported-model');
    expect(e.message).toMatch(/BertForSequenceClassification.*BertForMaskedLM/);
  });
});

const SUPPORTED = [
  'GPT2LMHeadModel',
  'MarianMTModel',
  'LlamaForCausalLM',
  'Qwen2ForCausalLM',
  'GPTNeoForCausalLM',
  'BertForMaskedLM',
  'DistilBertForMaskedLM',
];

it.each([
  ['gpt2-tiny-a', 'GPT2ForSequenceClassification'],
  ['gpt2-tiny-a', 'GPT2DoubleHeadsModel'],
  ['marian-tiny-a', 'MarianForCausalLM'],
  ['llama-tiny-a', 'LlamaForQuestionAnswering'],
  ['qwen2-tiny-a', 'Qwen2ForTokenClassification'],
  ['gptneo-tiny-a', 'GPTNeoForSequenceClassification'],
  ['bert-tiny-a', 'BertModel'],
  ['distilbert-tiny-a', 'DistilBertForQuestionAnswering'],
])('%s as %s is refused, naming the class and every supported one', (name, cls) => {
  const e = refusal({ ...config(name), architectures: [cls] });
  expect(e.code).toBe('unsupported-model');
  expect(e.message).toContain(`unsupported architecture "${cls}"`);
  for (const supported of SUPPORTED) expect(e.message).toContain(supported);
});

it('an unknown model_type names every supported architecture', () => {
  const e = refusal({ model_type: 'mistral' });
  expect(e.code).toBe('unsupported-model');
  for (const name of SUPPORTED) expect(e.message).toContain(name);
});
