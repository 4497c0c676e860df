/**
 * Grouped-query attention as the panels name it: which key/value head each query head reads
 * (src/model/config.ts `kvHeadOf`, repeat_kv's layout). Every query head keeps its own pattern;
 * heads of one group share k and v, so they differ only through their queries.
 */
import { kvHeadCount, kvHeadOf, type ModelConfig } from '../../model/config';

/** Whether the model has fewer key/value heads than query heads. */
export function isGrouped(cfg: ModelConfig): boolean {
  return kvHeadCount(cfg) < cfg.nHeads;
}

/** The KV group of every query head, `[nHeads]`; null for ordinary multi-head attention. */
export function kvGroups(cfg: ModelConfig): number[] | null {
  if (!isGrouped(cfg)) return null;
  return Array.from({ length: cfg.nHeads }, (_, h) => kvHeadOf(cfg, h));
}

/** "12 query heads share 4 key/value heads (3 per key/value head)", or null without GQA. */
export function kvSharingCaption(cfg: ModelConfig): string | null {
  if (!isGrouped(cfg)) return null;
  const kv = kvHeadCount(cfg);
  const per = cfg.nHeads / kv;
  const heads = (n: number) => (n === 1 ? 'key/value head' : 'key/value heads');
  return `${cfg.nHeads} query heads share ${kv} ${heads(kv)} (${per} per key/value head)`;
}

/** " · KV group g" for a head of a grouped-query model, "" otherwise (self-attention only). */
export function kvGroupSuffix(cfg: ModelConfig, head: number): string {
  return isGrouped(cfg) ? ` · KV group ${kvHeadOf(cfg, head)}` : '';
}
