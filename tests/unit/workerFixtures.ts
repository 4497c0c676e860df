/**
 * Tiny random models for the worker tests, served under a fake page URL by a fake fetch:
 * a 3-layer decoder-only model and a 2+2-layer encoder–decoder, both with a character tokenizer.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Interventions } from '../../src/workers/protocol';
import { randomCheckpoint } from '../../scripts/make-random-gpt2';

// The models below are made at import time, on the backend the tests then run on: the plain cpu
// backend, as the worker would use where neither WebGL nor WebAssembly work.
await tf.setBackend('cpu');
await tf.ready();

export const PAGE = 'http://lab.test/app/';
export const ALPHABET = [...' abcdefghijklmnopqrstuvwxyz.'];
export const TOKENIZER = {
  type: 'chars',
  alphabet: ALPHABET,
  special_tokens: { '<pad>': 0, '<s>': 1, '</s>': 2 },
};
export const VOCAB = ALPHABET.length + 3;

export const DECODER_CONFIG = {
  model_type: 'attention-lab',
  architecture: 'decoder-only',
  vocab_size: VOCAB,
  n_positions: 40,
  n_embd: 16,
  n_head: 2,
  n_layer: 3,
  eos_token_id: 2,
};

/** Chunks of one traced run of the decoder-only model: the embedding, one per layer, the output. */
export const DECODER_CHUNKS = 1 + DECODER_CONFIG.n_layer + 1;

const SEQ2SEQ_CONFIG = {
  ...DECODER_CONFIG,
  architecture: 'encoder-decoder',
  n_layer: 2,
  n_encoder_layer: 2,
  position_embedding: 'sinusoidal',
  decoder_start_token_id: 1,
  pad_token_id: 0,
};

export const PLAIN: Interventions = { causalMask: true, usePositions: true, ablatedHeads: [] };

type Files = Record<string, Uint8Array<ArrayBuffer> | string>;

function modelFolder(config: Record<string, unknown>, seed: number, extra: Files = {}): Files {
  const { safetensors } = randomCheckpoint(config, 'F32', seed);
  // Files and fetch bodies want bytes over a plain ArrayBuffer.
  const bytes = new Uint8Array(safetensors.byteLength);
  bytes.set(safetensors);
  return {
    'config.json': JSON.stringify(config),
    'model.safetensors': bytes,
    'lab-tokenizer.json': JSON.stringify(TOKENIZER),
    ...extra,
  };
}

export const SERVER: Record<string, Files> = {
  tiny: modelFolder(DECODER_CONFIG, 1, { 'training.json': JSON.stringify({ steps: 7 }) }),
  seq2seq: modelFolder(SEQ2SEQ_CONFIG, 2),
  'no-config': { 'model.safetensors': new Uint8Array(16) },
  // Good weights, broken companions: the load must fail without costing the model on screen.
  'bad-training': modelFolder(DECODER_CONFIG, 3, { 'training.json': '{"steps": 7' }),
  'bad-tokenizer': modelFolder(DECODER_CONFIG, 3, { 'lab-tokenizer.json': '{"type": "nope"}' }),
  corrupt: { ...modelFolder(DECODER_CONFIG, 1), 'model.safetensors': new Uint8Array([1, 2, 3]) },
};

/** Serves SERVER under PAGE/models/NAME/ and PAGE/broken/ (HTTP 500). */
export const fakeFetch = (async (input: URL | RequestInfo) => {
  const url = new URL(String(input));
  if (url.pathname.startsWith('/app/broken/')) return new Response('boom', { status: 500 });
  const match = /^\/app\/models\/([^/]+)\/([^/]+)$/.exec(url.pathname);
  const body = match ? SERVER[match[1]]?.[match[2]] : undefined;
  if (body === undefined) return new Response('not found', { status: 404 });
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  return new Response(bytes, { headers: { 'Content-Length': String(bytes.byteLength) } });
}) as typeof fetch;
