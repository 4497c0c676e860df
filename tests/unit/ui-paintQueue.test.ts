import { describe, expect, it } from 'vitest';
import { createPaintQueue } from '../../src/ui/lib/paintQueue';

/** A fake clock that each job advances by `cost` ms, and tasks that run when told to. */
function harness(budgetMs: number, cost: number) {
  let clock = 0;
  const tasks: (() => void)[] = [];
  const queue = createPaintQueue(
    budgetMs,
    (f) => tasks.push(f),
    () => clock,
  );
  const painted: string[] = [];
  const job = (name: string) => () => {
    clock += cost;
    painted.push(name);
  };
  const nextTask = () => tasks.shift()!();
  return { queue, painted, job, tasks, nextTask };
}

describe('paint queue', () => {
  it('paints within the budget per task and carries the rest to the next tasks', () => {
    const h = harness(8, 3);
    const keys = Array.from({ length: 7 }, () => ({}));
    keys.forEach((k, i) => h.queue.schedule(k, h.job(`t${i}`)));
    expect(h.tasks).toHaveLength(1);
    h.nextTask(); // 3 + 3 + 3 ≥ 8: three jobs, then the budget is spent
    expect(h.painted).toEqual(['t0', 't1', 't2']);
    h.nextTask();
    h.nextTask();
    expect(h.painted).toEqual(['t0', 't1', 't2', 't3', 't4', 't5', 't6']);
    expect(h.tasks).toHaveLength(0);
  });

  it('runs at least one job per task even when one job costs more than the budget', () => {
    const h = harness(8, 20);
    h.queue.schedule({}, h.job('a'));
    h.queue.schedule({}, h.job('b'));
    h.nextTask();
    expect(h.painted).toEqual(['a']);
    h.nextTask();
    expect(h.painted).toEqual(['a', 'b']);
  });

  it('keeps only the newest job for a key, and forgets cancelled ones', () => {
    const h = harness(100, 1);
    const [a, b] = [{}, {}];
    h.queue.schedule(a, h.job('a-old'));
    h.queue.schedule(b, h.job('b'));
    h.queue.schedule(a, h.job('a-new'));
    const c = {};
    h.queue.schedule(c, h.job('c'));
    h.queue.cancel(c);
    h.nextTask();
    expect(h.painted).toEqual(['b', 'a-new']);
  });
});
