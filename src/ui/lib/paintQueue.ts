/**
 * Paint jobs run in tasks of their own, each within a time budget. A model view of GPT-2 small
 * holds 144 thumbnails; painting them, the big heatmap, its axes and the formulas in the task
 * that rendered a run made long tasks (docs/performance.md) on a machine whose cores are busy
 * computing the model. Jobs are keyed by what they paint: a newer job for the same key replaces
 * one still waiting.
 */
export interface PaintQueue {
  schedule(key: object, job: () => void): void;
  cancel(key: object): void;
}

export function createPaintQueue(
  budgetMs: number,
  nextTask: (run: () => void) => void,
  now: () => number,
): PaintQueue {
  const waiting = new Map<object, () => void>();
  let taskRequested = false;
  const runTask = () => {
    taskRequested = false;
    const start = now();
    // At least one job per task, however slow, so that the queue always drains.
    for (const [key, job] of waiting) {
      waiting.delete(key);
      job();
      if (now() - start >= budgetMs) break;
    }
    if (waiting.size > 0) request();
  };
  const request = () => {
    if (taskRequested) return;
    taskRequested = true;
    nextTask(runTask);
  };
  return {
    schedule(key, job) {
      waiting.delete(key); // a replaced job goes to the back, behind older ones
      waiting.set(key, job);
      request();
    },
    cancel(key) {
      waiting.delete(key);
    },
  };
}
