/**
 * The Hugging Face families in the panels of the built app (WebGL in the worker), each fixture
 * dropped on the model picker: Llama's RoPE view (its frequencies θ^(−2i/d) and q·k by offset),
 * Qwen2's grouped-query sharing in the model view and the head labels, and BERT's fill-in
 * predictions at the typed [MASK] and its token types. The numbers behind the charts and the
 * canvas are read from their data attributes and checked against values computed here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors, readFloat32 } from '../../src/model/safetensors';
import type { Trace } from '../../src/model/trace';
import { checksum } from '../../src/ui/lib/heatmap';
import type { ModelInfo, Prediction } from '../../src/workers/protocol';
import { openApp, screenshot, type App } from '../../scripts/lib/harness';
import { FIXTURES } from '../unit/helpers';

let app: App;

beforeAll(async () => {
  app = await openApp();
  await app.waitForEvent('loaded');
});

afterAll(async () => {
  await app?.close();
});

const fixture = (name: string, file: string) =>
  new Uint8Array(readFileSync(join(FIXTURES, name, file)));

/** A fixture's config.json and model.safetensors, plus any extra files. */
function folder(name: string, extra: Record<string, string> = {}): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {
    'config.json': fixture(name, 'config.json'),
    'model.safetensors': fixture(name, 'model.safetensors'),
  };
  for (const [file, text] of Object.entries(extra)) files[file] = new TextEncoder().encode(text);
  return files;
}

const requestsOf = async (type: string) =>
  (await app.events()).filter(
    (e) => e.event === 'request' && (e.detail as { type: string }).type === type,
  );

/** Drop the files on the model picker and wait until they are the model on screen. */
async function drop(files: Record<string, Uint8Array>): Promise<ModelInfo> {
  const list = Object.entries(files).map(([name, bytes]) => ({
    name,
    base64: Buffer.from(bytes).toString('base64'),
  }));
  const transfer = await app.page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const { name, base64 } of list) {
      dt.items.add(new File([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], name));
    }
    return dt;
  }, list);
  const before = (await requestsOf('load')).length;
  await app.page.getByTestId('model-drop').dispatchEvent('drop', { dataTransfer: transfer });
  await expect
    .poll(async () => (await requestsOf('load')).length, { timeout: 30_000 })
    .toBe(before + 1);
  const id = (await requestsOf('load')).at(-1)!.id;
  await app.waitForEvent('loaded', id, 180_000);
  return app.page.evaluate(() => window.__attentionLab!.store!.getState().modelInfo!);
}

interface RunResult {
  trace: Trace;
  predictions: Prediction[];
  maskPosition?: number;
}

/** Run `text` and return the store's run once done, matrices as plain arrays. */
async function run(text: string): Promise<RunResult> {
  await app.page.evaluate((t) => {
    const state = window.__attentionLab!.store!.getState();
    state.setText(t);
    window.__attentionLab!.store!.getState().runNow();
  }, text);
  const id = (await requestsOf('run')).at(-1)!.id;
  await app.waitForEvent('done', id);
  const json = await app.page.evaluate(() => {
    const run = window.__attentionLab!.store!.getState().run!;
    return JSON.stringify(
      { trace: run.trace, predictions: run.predictions, maskPosition: run.maskPosition },
      (_, v: unknown) => (v instanceof Float32Array ? Array.from(v) : v),
    );
  });
  return JSON.parse(json) as RunResult;
}

/** The data attributes of the first element with this test id. */
async function dataOf(testId: string): Promise<Record<string, string | undefined>> {
  return app.page
    .getByTestId(testId)
    .first()
    .evaluate((e) => ({ ...(e as HTMLElement).dataset }));
}

async function allData(testId: string): Promise<Record<string, string | undefined>[]> {
  return app.page
    .getByTestId(testId)
    .evaluateAll((all) => all.map((e) => ({ ...(e as HTMLElement).dataset })));
}

const values = (d: Record<string, string | undefined>) => JSON.parse(d.values!) as number[];

describe('the families’ panels', () => {
  it('llama-tiny-a: the RoPE view draws θ^(−2i/d) per pair and q·k against i − j', async () => {
    const info = await drop(folder('llama-tiny-a'));
    expect(info.config).toMatchObject({ family: 'llama', positions: 'rotary', ropeTheta: 500000 });
    await run('5 9 12 7 3');
    await app.page.getByTestId('tab-positions').click();
    const freqs = await dataOf('rope-frequencies');
    expect(freqs).toMatchObject({ theta: '500000', headDim: '10' });
    const omega = [0, 1, 2, 3, 4].map((i) => 500000 ** ((-2 * i) / 10));
    expect(values(freqs)).toHaveLength(5);
    values(freqs).forEach((w, i) => expect(w).toBeCloseTo(omega[i], 12));

    // q = k = (1, 0) in every pair: Σ_i cos(offset·ω_i) over the 32 offsets of the context.
    const sum = await dataOf('rope-dot');
    expect(sum.pair).toBe('sum');
    expect(values(sum)).toHaveLength(32);
    values(sum).forEach((v, o) =>
      expect(v).toBeCloseTo(
        omega.reduce((s, w) => s + Math.cos(o * w), 0),
        9,
      ),
    );
    await app.page.getByTestId('rope-pair').selectOption('1');
    await expect.poll(async () => (await dataOf('rope-dot')).pair).toBe('1');
    values(await dataOf('rope-dot')).forEach((v, o) =>
      expect(v).toBeCloseTo(Math.cos(o * omega[1]), 9),
    );
    // The charts drew what they hold: a dot per pair, a line over the offsets.
    const view = app.page.getByTestId('rope-view');
    expect(await view.getByTestId('rope-frequencies').locator('circle').count()).toBe(5);
    const line = await view.getByTestId('rope-dot').locator('path.series').getAttribute('d');
    expect(line?.split('L')).toHaveLength(32);
    expect(await app.page.getByTestId('positions-absent').count()).toBe(0);

    // Its 4 query heads read 2 key/value heads: 0, 0, 1, 1 in each layer.
    const cells = await allData('head-cell');
    expect(cells.map((c) => Number(c.kvGroup))).toEqual([0, 0, 1, 1, 0, 0, 1, 1]);
    await screenshot(app.page, 'families-llama-rope');
  });

  it('qwen2-tiny-a: the model view shows 4 query heads sharing 1 key/value head', async () => {
    const info = await drop(folder('qwen2-tiny-a'));
    expect(info.config).toMatchObject({ family: 'qwen2', nHeads: 4, nKvHeads: 1 });
    await run('5 9 12 7 3');
    const sharing = app.page.getByTestId('kv-sharing');
    await expect
      .poll(() => sharing.textContent())
      .toContain('4 query heads share 1 key/value head (4 per key/value head)');
    expect(await dataOf('kv-sharing')).toMatchObject({ queryHeads: '4', kvHeads: '1' });
    const labels = await allData('kv-label');
    expect(labels.map((l) => [Number(l.head), Number(l.kvGroup)])).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
    const cells = await allData('head-cell');
    expect(cells).toHaveLength(8);
    expect(cells.every((c) => c.kvGroup === '0')).toBe(true);
    // The focused head's label names its group, in the attention panel and the head view.
    await app.page.getByTestId('focus-head').selectOption('3');
    expect(await dataOf('focus-kv-group')).toMatchObject({ kvGroup: '0' });
    await app.page.getByTestId('tab-heads').click();
    await expect
      .poll(() => app.page.getByTestId('head-view').locator('.caption').first().textContent())
      .toMatch(/^d\d+\.3 · KV group 0:/);
    await screenshot(app.page, 'families-qwen2-gqa');
  });

  it('bert-tiny-a: fill-in predictions at the typed [MASK], and the token types', async () => {
    // The WordPiece fixture's first 77 tokens: bert-tiny-a's vocabulary size.
    const vocab = new TextDecoder()
      .decode(readFileSync(join(FIXTURES, 'hf-tokenizers', 'wordpiece', 'vocab.txt')))
      .split('\n')
      .slice(0, 77)
      .join('\n');
    const info = await drop(
      folder('bert-tiny-a', {
        'vocab.txt': vocab,
        'tokenizer_config.json': JSON.stringify({ do_lower_case: true }),
      }),
    );
    expect(info.tokenizer).not.toBe('ids');
    // [CLS] the [MASK] a b [SEP] | c d [SEP]: the mask at position 2.
    const masked = await run('the [MASK] a b [SEP] c d');
    expect(masked.maskPosition).toBe(2);
    await expect
      .poll(() => app.page.getByTestId('topk-title').textContent())
      .toContain('Fill-in for [MASK] at position 2');
    expect(await dataOf('topk')).toMatchObject({ maskPosition: '2' });
    expect(await app.page.getByTestId('topk-hint').count()).toBe(0);

    // The listed probabilities are the softmax of the logits row at position 2 (not the last).
    const output = masked.trace.encoder!.output!;
    const vocabSize = info.config.vocabSize;
    const rowAt = (i: number) =>
      Array.from(output.logits!.data).slice(i * vocabSize, (i + 1) * vocabSize);
    const softmax = (row: number[]) => {
      const max = Math.max(...row);
      const e = row.map((v) => Math.exp(v - max));
      const z = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / z);
    };
    const atMask = softmax(rowAt(output.logitPositions.indexOf(2)));
    const atLast = softmax(rowAt(output.logitPositions.length - 1));
    const shown = await allData('topk-item');
    const best = [...atMask.keys()].sort((a, b) => atMask[b] - atMask[a]).slice(0, shown.length);
    expect(shown.length).toBeGreaterThanOrEqual(5);
    expect(shown.map((p) => Number(p.id))).toEqual(best);
    shown.forEach((p, i) => expect(Number(p.prob)).toBeCloseTo(atMask[best[i]], 4));
    expect(Number(shown[0].prob)).not.toBeCloseTo(atLast[best[0]], 4);

    // Token types: the table the model holds, and which token got which row.
    const stored = readFloat32(
      parseSafetensors(fixture('bert-tiny-a', 'model.safetensors')),
      'bert.embeddings.token_type_embeddings.weight',
    );
    await app.page.getByTestId('tab-positions').click();
    const table = app.page.locator('canvas[data-testid="token-type-table"][data-checksum]');
    await table.waitFor();
    expect(await table.evaluate((c) => ({ ...(c as HTMLElement).dataset }))).toMatchObject({
      rows: '2',
      cols: '24',
      checksum: checksum(stored),
    });
    const types = await allData('token-type');
    expect(types.map((t) => Number(t.type))).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1]);
    expect(types.map((t) => Number(t.type))).toEqual(masked.trace.encoder!.embedding.tokenTypeIds);
    const [e0, e1] = [stored.subarray(0, 24), stored.subarray(24)];
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);
    const cosine = dot(e0, e1) / Math.sqrt(dot(e0, e0) * dot(e1, e1));
    expect(Number((await dataOf('token-type-cosine')).value)).toBeCloseTo(cosine, 5);
    await screenshot(app.page, 'families-bert-types');

    // No [MASK]: the list says where its predictions are, and how to ask for a fill-in.
    const plain = await run('the a b');
    expect(plain.maskPosition).toBeUndefined();
    await expect
      .poll(() => app.page.getByTestId('topk-title').textContent())
      .toContain('Predictions at the last position (4)');
    expect(await app.page.getByTestId('topk-hint').textContent()).toContain('type [MASK]');
    expect((await dataOf('topk')).maskPosition).toBeUndefined();
  });
});
