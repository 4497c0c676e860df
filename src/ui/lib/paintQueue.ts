/**
 * Paint jobs run within a time budget per frame. A model view of GPT-2 small holds 144
 * thumbnails; painting every thumbnail a chunk brings in the frame it arrives, on a machine whose
 * cores are busy computing the model, made frames of 60–110 ms (long tasks). Jobs are keyed
 * by what they paint: a newer job for the same key replaces one still waiting.
 */
export interface PaintQueue {
  schedule(key: object, job: () => void): void;
  cancel(key: object): void;
}

export function createPaintQueue(
  budgetMs: number,
  requestFrame: (run: () => void) => void,
  now: () => number,
): PaintQueue {
  const waiting = new Map<object, () => void>();
  let frameRequested = false;
  const runFrame = () => {
    frameRequested = false;
    const start = now();
    // At least one job per frame, however slow, so that the queue always drains.
    for (const [key, job] of waiting) {
      waiting.delete(key);
      job();
      if (now() - start >= budgetMs) break;
    }
    if (waiting.size > 0) request();
  };
  const request = () => {
    if (frameRequested) return;
    frameRequested = true;
    requestFrame(runFrame);
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
