/**
 * A long input's layers come as summaries, but for the one shown (docs/performance.md, long
 * inputs): when the focus moves to a summarised layer, the worker is asked for its exact
 * matrices, once per run and layer. They arrive as a chunk of the run, and the run reducer then
 * drops the exact matrices of the layer shown before, so the page holds one layer in full.
 */
import type { Get, Set } from './deps';

/** Ask for the focused layer's exact attention if the run on screen has only its summaries. */
export function fetchDetail(set: Set, get: Get): void {
  const s = get();
  const run = s.run;
  if (!run || run.error) return;
  const { stack, layer } = s.focus;
  const chunk = run.trace[stack]?.layers[layer];
  const asked = `${stack}.${layer}`;
  if (!chunk?.summaries || chunk.attentions.length > 0 || run.detailAsked === asked) return;
  s.engine.detail(run.id, { stack, layer }, run.captureQKV);
  set({ run: { ...run, detailAsked: asked } });
}
