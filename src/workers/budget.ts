/** How much a load may take. */

const GIB = 2 ** 30;
const MAX_BUDGET = 2 * GIB;

/**
 * Float32 weight bytes a load may take: a quarter of the memory the browser reports
 * (`navigator.deviceMemory`), at most 2 GiB; 2 GiB where the browser does not say. The weights
 * live as float32 textures, the download needs one more copy of the file while it is turned
 * into them, and the trace of a long input needs room too. 2 GiB admits GPT-2 medium (1.5 GB
 * with its stored attention masks) and refuses GPT-2 large (3.1 GB).
 */
export function weightBudget(deviceMemoryGiB: number | undefined): number {
  return Math.min(MAX_BUDGET, ((deviceMemoryGiB || Infinity) * GIB) / 4);
}
