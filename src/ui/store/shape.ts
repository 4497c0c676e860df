/** Which stacks, layers and heads a model has, and what attention each layer traces. */
import { stacksOf, type ModelConfig } from '../../model/config';
import type { Stack } from '../../model/trace';
import type { AttentionKind, HeadFocus } from '../lib/urlState';

export interface AttentionBlock {
  stack: Stack;
  kind: AttentionKind;
  layers: number;
  /** Row title in the model view, e.g. "decoder cross-attention". */
  title: string;
}

/** Every attention of the model, in forward order: encoder self, decoder self, decoder cross. */
export function attentionBlocks(cfg: ModelConfig): AttentionBlock[] {
  if (cfg.architecture !== 'encoder-decoder') {
    const stack = stacksOf(cfg)[0];
    return [{ stack, kind: 'self', layers: cfg.nLayers, title: 'self-attention' }];
  }
  return [
    { stack: 'encoder', kind: 'self', layers: cfg.nEncoderLayers, title: 'encoder self-attention' },
    { stack: 'decoder', kind: 'self', layers: cfg.nLayers, title: 'decoder masked self-attention' },
    { stack: 'decoder', kind: 'cross', layers: cfg.nLayers, title: 'decoder cross-attention' },
  ];
}

/** The focus moved onto a head the model has (after loading a smaller model, or a bad URL). */
export function clampFocus(cfg: ModelConfig, focus: HeadFocus): HeadFocus {
  const blocks = attentionBlocks(cfg);
  const block =
    blocks.find((b) => b.stack === focus.stack && b.kind === focus.kind) ??
    blocks.find((b) => b.stack === focus.stack) ??
    blocks[0];
  return {
    stack: block.stack,
    kind: block.kind,
    layer: Math.min(Math.max(0, focus.layer), block.layers - 1),
    head: Math.min(Math.max(0, focus.head), cfg.nHeads - 1),
  };
}

const OPPOSITE = { pre: /post[- ]?norm|post[- ]?ln/i, post: /pre[- ]?norm|pre[- ]?ln/i } as const;

/**
 * The model to compare norm placement against: the first other shipped model whose name, title or
 * description mentions the opposite placement.
 */
export function pickCompareModel(
  models: { name: string; title: string; description: string }[],
  current: string,
  norm: 'pre' | 'post',
): string {
  const other = models.find(
    (m) => m.name !== current && OPPOSITE[norm].test(`${m.name} ${m.title} ${m.description}`),
  );
  return other?.name ?? '';
}
