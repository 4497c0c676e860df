/**
 * A long input's layers come as summaries, but for the one shown (docs/performance.md, long
 * inputs): when the focus moves to a summarised layer, the worker is asked for its exact
 * matrices, once per run and layer. They arrive as a chunk of the run, and the run reducer then
 * drops the exact matrices of the layer shown before, so the page holds one layer in full.
 * The views that read q, k and v (the step-through, the KV cache, attention × ‖value‖) get them
 * the same way on a long input: for the layer shown, not by a whole forward again.
 */
import { hasQKV } from '../lib/stepThrough';
import type { Get, Set } from './deps';
import { wantsQKV } from './inputs';
import type { RunState } from './types';

/** A long input's run: its layers came as summaries. */
function isLong(run: RunState): boolean {
  const { encoder, decoder } = run.trace;
  return [encoder, decoder].some((stack) => stack?.layers.some((l) => l?.summaries));
}

/**
 * Ask for the focused layer's exact attention if the run on screen has only its summaries, or
 * lacks the q, k and v the view now wants.
 */
export function fetchDetail(set: Set, get: Get): void {
  const s = get();
  const run = s.run;
  if (!run || run.error) return;
  const { stack, layer } = s.focus;
  const chunk = run.trace[stack]?.layers[layer];
  if (!chunk?.summaries) return;
  const qkv = run.captureQKV || wantsQKV(s);
  // A run that captured q, k and v sent them with the layer; one that did not may have had them
  // asked for since.
  const lacksQKV = !run.captureQKV && qkv && !chunk.attentions.every(hasQKV);
  const held = chunk.attentions.length > 0 && !lacksQKV;
  const asked = `${stack}.${layer}${qkv ? '+qkv' : ''}`;
  if (held || run.detailAsked === asked) return;
  s.engine.detail(run.id, { stack, layer }, qkv);
  set({ run: { ...run, detailAsked: asked } });
}

/**
 * The view now wants q, k and v: a run that did not capture them runs again with them, but a
 * long input's finished run asks for the focused layer's instead (one block, not the forward).
 */
export function fetchQKV(set: Set, get: Get): void {
  const s = get();
  const run = s.run;
  if (!wantsQKV(s) || !run || run.captureQKV) return;
  if (run.done && !run.error && isLong(run)) fetchDetail(set, get);
  else s.runNow();
}
