/**
 * The engine with the Hugging Face families: a masked LM's input from the text box ([CLS],
 * [SEP], token types, the typed [MASK]) and its fill-in predictions, on the cpu backend with the
 * bert-tiny-a fixture and a WordPiece vocabulary cut to its 77 tokens.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/workers/engine';
import { topK } from '../../src/workers/forwards';
import { parseSafetensors, readFloat32 } from '../../src/model/safetensors';
import type {
  Interventions,
  ModelInfo,
  Request,
  Response,
  RunInput,
} from '../../src/workers/protocol';
import { maxAbsDiff, readExpected } from './helpers';
import { fakeFetch, PAGE, PLAIN } from './workerFixtures';

const FIXTURES = new URL('../fixtures/', import.meta.url);
const read = (path: string) => new Uint8Array(readFileSync(new URL(path, FIXTURES)));

/** bert-tiny-a (vocabulary 77) with the first 77 tokens of the WordPiece fixture's vocab.txt. */
function bertFiles(): File[] {
  const vocab = new TextDecoder()
    .decode(read('hf-tokenizers/wordpiece/vocab.txt'))
    .split('\n')
    .slice(0, 77)
    .join('\n');
  const files: Record<string, BlobPart> = {
    'config.json': read('bert-tiny-a/config.json'),
    'model.safetensors': read('bert-tiny-a/model.safetensors'),
    'vocab.txt': vocab,
    'tokenizer_config.json': JSON.stringify({ do_lower_case: true }),
  };
  return Object.entries(files).map(([name, body]) => new File([body], name));
}

class Harness {
  sent: Response[] = [];
  readonly engine = new Engine({
    pageUrl: PAGE,
    fetch: fakeFetch,
    padToBuckets: false,
    post: (message, transfer) => this.sent.push(structuredClone(message, { transfer })),
  });
  private nextId = 1;

  async load(files: File[]): Promise<ModelInfo> {
    const id = this.nextId++;
    await this.engine.handle({ type: 'load', id, source: { kind: 'files', files } });
    return this.only(id, 'loaded').info;
  }

  async run(input: string | RunInput, interventions: Interventions = PLAIN, trace = true) {
    const request: Request = {
      type: 'run',
      id: this.nextId++,
      input: typeof input === 'string' ? { text: input } : input,
      interventions,
      captureQKV: false,
      topK: 5,
      ...(trace ? {} : { trace: false }),
    };
    await this.engine.handle(request);
    const of = this.sent.filter((m) => 'id' in m && m.id === request.id);
    const error = of.find((m) => m.type === 'error');
    if (error) throw new Error(JSON.stringify(error));
    return {
      tokens: this.only(request.id, 'tokens').tokens,
      done: this.only(request.id, 'done'),
      chunks: of.flatMap((m) => (m.type === 'chunk' ? [m.chunk] : [])),
    };
  }

  only<T extends Response['type']>(id: number, type: T): Extract<Response, { type: T }> {
    const found = this.sent.filter((m) => 'id' in m && m.id === id && m.type === type);
    expect(found, `${type} messages for request ${id}`).toHaveLength(1);
    return found[0] as Extract<Response, { type: T }>;
  }
}

let harness: Harness;
afterEach(() => harness?.engine.dispose());

describe('a masked LM through the engine', () => {
  it('reads [CLS] … [SEP] … [SEP] with token types and predicts the fill-in at the first [MASK]', async () => {
    harness = new Harness();
    await harness.load(bertFiles());
    const { tokens, done, chunks } = await harness.run('A [MASK] b [SEP] c [MASK]');
    expect(tokens.map((t) => t.piece)).toEqual([
      '[CLS]',
      'a',
      '[MASK]',
      'b',
      '[SEP]',
      'c',
      '[MASK]',
      '[SEP]',
    ]);
    const embedding = chunks.find((c) => c.type === 'embedding');
    expect(embedding?.tokenTypeIds).toEqual([0, 0, 0, 0, 0, 1, 1, 1]);
    expect(done.maskPosition).toBe(2);
    // The predictions are the softmax of the logits row at position 2, not at the last one.
    const output = chunks.find((c) => c.type === 'output');
    const logits = output?.type === 'output' ? output.logits : undefined;
    expect(logits?.shape).toEqual([8, 77]);
    const row = (i: number) => logits!.data.subarray(i * 77, (i + 1) * 77);
    const piece = (id: number) => tokens.find((t) => t.id === id)?.piece ?? '';
    expect(done.predictions.map((p) => p.id)).toEqual(topK(row(2), 5, piece).map((p) => p.id));
    expect(done.predictions.map((p) => p.id)).not.toEqual(topK(row(7), 5, piece).map((p) => p.id));
  });

  it('hands the token-type table to the page with the model info (for the positions panel)', async () => {
    harness = new Harness();
    const info = await harness.load(bertFiles());
    const stored = readFloat32(
      parseSafetensors(read('bert-tiny-a/model.safetensors')),
      'bert.embeddings.token_type_embeddings.weight',
    );
    expect(info.tokenTypeEmbeddings?.shape).toEqual([2, 24]);
    expect(info.tokenTypeEmbeddings?.data).toEqual(stored);
    // Models without token types send none.
    const distil = await harness.load(
      ['config.json', 'model.safetensors'].map(
        (file) => new File([read(`distilbert-tiny-a/${file}`)], file),
      ),
    );
    expect(distil.tokenTypeEmbeddings).toBeUndefined();
  });

  it('answers the same without a trace (token types and the [MASK] row in the batch driver)', async () => {
    harness = new Harness();
    await harness.load(bertFiles());
    const traced = await harness.run('the [MASK] [SEP] a b');
    const bare = await harness.run('the [MASK] [SEP] a b', PLAIN, false);
    expect(bare.chunks).toEqual([]);
    expect(bare.done.maskPosition).toBe(traced.done.maskPosition);
    expect(bare.done.predictions.map((p) => p.id)).toEqual(
      traced.done.predictions.map((p) => p.id),
    );
    bare.done.predictions.forEach((p, i) =>
      expect(p.prob).toBeCloseTo(traced.done.predictions[i].prob, 5),
    );
    // Without a [MASK] the predictions are for the last position, and say so.
    expect((await harness.run('a b')).done.maskPosition).toBeUndefined();
  });

  it('attends both ways by default; causalMask false turns a causal mask on', async () => {
    harness = new Harness();
    await harness.load(bertFiles());
    const later = async (interventions: Interventions) => {
      const { chunks } = await harness.run('a b c', interventions);
      const layer = chunks.find((c) => c.type === 'layer');
      if (layer?.type !== 'layer') throw new Error('no layer chunk');
      const { probs, causal } = layer.attentions[0];
      const t = probs.shape[probs.shape.length - 1];
      // Attention of query 0 to the keys after it, summed over heads.
      let sum = 0;
      for (let h = 0; h < probs.data.length / (t * t); h++) {
        for (let k = 1; k < t; k++) sum += probs.data[h * t * t + k];
      }
      return { sum, causal };
    };
    const both = await later(PLAIN);
    expect(both.causal).toBe(false);
    expect(both.sum).toBeGreaterThan(0.1);
    const causal = await later({ ...PLAIN, causalMask: false });
    expect(causal.causal).toBe(true);
    expect(causal.sum).toBe(0);
  });
});

describe('every family answers the same interventions', () => {
  const folder = (name: string) =>
    ['config.json', 'model.safetensors'].map((file) => new File([read(`${name}/${file}`)], file));
  const families = [
    'gpt2-tiny-a',
    'llama-tiny-a',
    'qwen2-tiny-a',
    'gptneo-tiny-a',
    'bert-tiny-a',
    'distilbert-tiny-a',
  ];

  it('bert-tiny-a: token types given with the ids reach the forward (the fixture within 1e-4)', async () => {
    harness = new Harness();
    await harness.load(folder('bert-tiny-a'));
    for (const c of readExpected('bert-tiny-a').cases) {
      const types = c.token_type_ids as number[];
      expect(types).toContain(1);
      const { chunks } = await harness.run({ ids: c.input_ids, tokenTypeIds: types });
      const embedding = chunks.find((k) => k.type === 'embedding');
      expect(embedding?.tokenTypeIds).toEqual(types);
      const output = chunks.find((k) => k.type === 'output');
      const logits = output?.type === 'output' ? output.logits! : undefined;
      const vocab = logits!.shape[1];
      const rows = c.input_ids.map((_, i) => [
        ...logits!.data.subarray(i * vocab, (i + 1) * vocab),
      ]);
      expect(maxAbsDiff(rows, c.logits)).toBeLessThanOrEqual(1e-4);
    }
    const refused = async (input: RunInput, message: RegExp) => {
      await expect(harness.run(input)).rejects.toThrow(message);
    };
    await refused({ ids: [2, 5, 3], tokenTypeIds: [0, 1] }, /2 token type ids for 3 tokens/);
    await refused({ ids: [2, 5, 3], tokenTypeIds: [0, 2, 0] }, /token type id 2 is outside 0–1/);
    await refused({ text: '2 5 3', tokenTypeIds: [0, 0, 1] }, /only with the ids/);
  });

  it.each(families)(
    '%s: head ablation, the mask toggle and positions off each change the answer',
    async (name) => {
      harness = new Harness();
      await harness.load(folder(name));
      // No tokenizer files in the fixture folders: the text is the ids.
      const logitsOf = async (interventions: Interventions) => {
        const { chunks, done } = await harness.run('5 9 12 7 3', interventions);
        expect(done.predictions).toHaveLength(5);
        const output = chunks.find((c) => c.type === 'output');
        return { chunks, logits: output?.type === 'output' ? [...output.logits!.data] : [] };
      };
      const plain = await logitsOf(PLAIN);
      expect(plain.logits.length).toBeGreaterThan(0);
      const stack = plain.chunks[0].stack;
      const ablated = await logitsOf({ ...PLAIN, ablatedHeads: [{ stack, layer: 0, head: 1 }] });
      const layer0 = ablated.chunks.find((c) => c.type === 'layer');
      expect(layer0?.type === 'layer' && [...layer0.attentions[0].headGate]).toEqual(
        expect.arrayContaining([0]),
      );
      for (const changed of [
        ablated,
        await logitsOf({ ...PLAIN, causalMask: false }),
        await logitsOf({ ...PLAIN, usePositions: false }),
      ]) {
        expect(changed.logits).toHaveLength(plain.logits.length);
        expect(changed.logits).not.toEqual(plain.logits);
      }
    },
  );
});
