/**
 * The client's record of the latest requests (src/client/latestRequests.ts), on its own: which
 * answers pass, what they settle, and what a restarted worker runs again. The client's behaviour
 * with real and scripted workers is in workerClient.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { LatestRequests, type LatestAnswer } from '../../src/client/latestRequests';
import type { GenerateRequest, RunRequest } from '../../src/client/types';
import type { Timings } from '../../src/workers/protocol';
import { PLAIN } from './workerFixtures';

const run = (id: number, text = 'a b'): RunRequest => ({
  type: 'run',
  id,
  input: { text },
  interventions: PLAIN,
  captureQKV: false,
  topK: 5,
  logits: 'last',
});
const generate = (id: number): GenerateRequest => ({
  type: 'generate',
  id,
  interventions: { ...PLAIN, causalMask: false },
  captureQKV: true,
  topK: 3,
});
const timings: Timings = { forwardMs: 10, readbackMs: 1, transferMs: 2, totalMs: 15 };
const done = (id: number): LatestAnswer => ({ type: 'done', id, predictions: [], timings });
const tokens = (id: number, stack: 'encoder' | 'decoder', ids: number[]): LatestAnswer => ({
  type: 'tokens',
  id,
  stack,
  tokens: ids.map((t) => ({ id: t, piece: String(t) })),
  truncated: false,
});

describe('LatestRequests', () => {
  it("passes only the latest run's answers, and closes it on done", () => {
    const r = new LatestRequests();
    r.startRun(run(1));
    r.startRun(run(2));
    expect(r.accept(done(1))).toBeNull();
    expect(r.runOpen).toBe(true);
    expect(r.waiting).toBe(true);
    expect(r.accept(done(2))).toMatchObject({ type: 'done', id: 2 });
    expect(r.runOpen).toBe(false);
    expect(r.waiting).toBe(false);
  });

  it("adds its chunks' delivery delay to done's transferMs", () => {
    const r = new LatestRequests();
    r.startRun(run(1));
    const sentAt = performance.timeOrigin + performance.now() - 1000; // posted a second ago
    const chunk = { type: 'chunk', id: 1, queryStart: 0, sentAt } as unknown as LatestAnswer;
    expect(r.accept(chunk)).toBe(chunk);
    const passed = r.accept(done(1));
    if (passed?.type !== 'done') throw new Error('done did not pass');
    expect(passed.timings.transferMs).toBeGreaterThanOrEqual(2 + 1000);
    expect(passed.timings.forwardMs).toBe(10);
  });

  it('re-runs a generated sequence from its tokens, under the latest interventions and id', () => {
    const r = new LatestRequests();
    const first = run(1);
    r.startRun(first);
    r.accept(tokens(1, 'encoder', [7, 8]));
    r.accept(tokens(1, 'decoder', [1, 2]));
    expect(r.rerun()).toBe(first);
    r.start(generate(2));
    expect(r.accept(tokens(1, 'decoder', [9]))).toBeNull(); // the older run's: ignored
    r.accept(tokens(2, 'decoder', [1, 2, 3]));
    expect(r.rerun()).toEqual({
      ...first,
      id: 2,
      input: { ids: [1, 2, 3], sourceIds: [7, 8] },
      interventions: generate(2).interventions,
      captureQKV: true,
      topK: 3,
    });
    r.forget();
    expect(r.rerun()).toBeNull();
  });

  it('passes only the latest analysis and measurement, each settled by its answer or error', () => {
    const r = new LatestRequests();
    r.expect('analysis', 3);
    r.expect('analysis', 4);
    const analysis = (id: number) =>
      ({ type: 'analysis', id, result: { tool: 'lens' }, ms: 1 }) as unknown as LatestAnswer;
    expect(r.accept(analysis(3))).toBeNull();
    expect(r.accept(analysis(4))).not.toBeNull();
    expect(r.waitingFor('analysis')).toBeNull();
    r.expect('rnn', 5);
    expect(r.accept({ type: 'rnn-row', id: 5 } as unknown as LatestAnswer)).not.toBeNull();
    expect(r.waitingFor('rnn')).toBe(5);
    expect(r.accept({ type: 'rnn-done', id: 5, stop: null })).not.toBeNull();
    expect(r.waitingFor('rnn')).toBeNull();
    r.expect('cache', 6);
    expect(r.waiting).toBe(true);
    expect(r.settleError(7)).toBe(false);
    expect(r.settleError(6)).toBe(true);
    expect(r.waiting).toBe(false);
  });

  it('cancel forgets the latest run: nothing of it passes, nothing is re-run', () => {
    const r = new LatestRequests();
    r.startRun(run(1));
    expect(r.cancel()).toBe(1);
    expect(r.cancel()).toBeNull();
    expect(r.accept(done(1))).toBeNull();
    expect(r.rerun()).toBeNull();
  });
});
