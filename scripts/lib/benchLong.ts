/**
 * The bench's long-input rows (`npm run bench`): a GPT-2-small-shaped model at its full
 * 1,024-token context, driven through the app's store as a user would (text, head ablation,
 * causal mask), each timed until the big heatmap repainted; and the renderer's peak memory.
 */
import type { Page } from 'playwright-core';
import { chromiumProcesses, statusBytes } from './chromiumProcesses';
import type { BackendName } from '../../src/workers/protocol';

export interface LongRow {
  model: string;
  backend: BackendName;
  tokens: number;
  /** Text set → traced run done and the big heatmap painted it (ms). */
  tracedMs?: number;
  ablateMs?: number;
  maskMs?: number;
  /** Focus another layer → its exact matrices fetched from the worker and the big heatmap painted (ms). */
  detailMs?: number;
  /** Largest VmHWM of the renderer processes after the runs (MB). */
  rendererPeakMb?: number;
  /**
   * VmHWM of the GPU process (MB): where WebGL's textures live (SwiftShader emulates the GPU in
   * that process), so on webgl the renderer peak leaves the model's tensors out.
   */
  gpuPeakMb?: number;
  skipped?: string;
}

/**
 * A run at 1,024 tokens may take this long before the row is given up as too slow (`--long-limit
 * S` in seconds: a loaded machine needs more).
 */
const LONG_LIMIT_MS = 180_000;

/** Peak resident memory (VmHWM) of the Chromium processes of a type started under this one, MB. */
function peakMb(processType: 'renderer' | 'gpu-process'): number {
  let peak = 0;
  for (const { pid, type } of chromiumProcesses()) {
    if (type === processType) peak = Math.max(peak, statusBytes(pid, 'VmHWM') / 2 ** 20);
  }
  return peak;
}

/** The row's memory: the renderer's peak, and the GPU process's on webgl. */
function peaks(backend: BackendName): Pick<LongRow, 'rendererPeakMb' | 'gpuPeakMb'> {
  return {
    rendererPeakMb: peakMb('renderer'),
    ...(backend === 'webgl' ? { gpuPeakMb: peakMb('gpu-process') } : {}),
  };
}

/**
 * In the page: apply `change` to the store and wait until a newer run is done and the big
 * heatmap painted it; the time it took, or null past `limitMs`.
 */
async function changeAndRepaint(
  page: Page,
  change: 'text' | 'ablate' | 'mask-off' | 'mask-on',
  text: string,
  limitMs: number,
): Promise<number | null> {
  return page.evaluate(
    async ({ change, text, limitMs }) => {
      const h = window.__attentionLab!;
      const store = h.store!;
      const s = store.getState();
      const before = s.run?.id ?? 0;
      const t0 = performance.now();
      if (change === 'text') {
        s.setText(text);
        s.runNow();
      } else if (change === 'ablate') s.toggleAblation({ stack: 'decoder', layer: 0, head: 0 });
      else s.setCausalMask(change === 'mask-on');
      for (;;) {
        await new Promise((ok) => setTimeout(ok, 20));
        const now = store.getState();
        const run = now.run;
        if (run && run.id > before && run.done && !now.inFlight) {
          const painted = h.paints.findLast(
            (p) => p.id === run.id && p.panel === 'attention-heatmap',
          );
          if (painted) return painted.at - t0;
        }
        if (performance.now() - t0 > limitMs) return null;
      }
    },
    { change, text, limitMs },
  );
}

/**
 * In the page: focus the middle layer (a long input's layers come as summaries, but for the one
 * shown) and wait until its exact matrices came from the worker and the big heatmap painted them.
 */
async function focusAndRepaint(page: Page, limitMs: number): Promise<number | null> {
  return page.evaluate(
    async ({ limitMs }) => {
      const h = window.__attentionLab!;
      const store = h.store!;
      const layer = (store.getState().run?.trace.decoder?.layers.length ?? 0) >> 1;
      const t0 = performance.now();
      store.getState().setFocus({ ...store.getState().focus, layer });
      for (;;) {
        await new Promise((ok) => setTimeout(ok, 20));
        const run = store.getState().run;
        if (run?.trace.decoder?.layers[layer]?.attentions.length) {
          const painted = h.paints.findLast(
            (p) => p.id === run.id && p.panel === 'attention-heatmap' && p.at > t0,
          );
          if (painted) return painted.at - t0;
        }
        if (performance.now() - t0 > limitMs) return null;
      }
    },
    { limitMs },
  );
}

/** A long-input row: a GPT-2 model's full context through the app, traced, then toggled. */
export async function benchLong(
  page: Page,
  backend: BackendName,
  label: string,
  tokens: number,
  limitMs = LONG_LIMIT_MS,
): Promise<LongRow> {
  const row: LongRow = { model: label, backend, tokens };
  // " the" is one GPT-2 token: the text is exactly the context.
  const text = ' the'.repeat(tokens);
  const tracedMs = await changeAndRepaint(page, 'text', text, limitMs);
  const n = await page.evaluate(
    () => window.__attentionLab!.store!.getState().run?.tokens.decoder?.length ?? 0,
  );
  if (tracedMs === null || n !== tokens) {
    row.skipped =
      tracedMs === null
        ? `skipped: the traced run took over ${limitMs / 1000} s`
        : `skipped: the text became ${n} tokens, not ${tokens}`;
    // The peak so far still says what the page held.
    Object.assign(row, peaks(backend));
    console.log(formatLong(row));
    return row;
  }
  row.tracedMs = tracedMs;
  const step = async (change: 'ablate' | 'mask-off' | 'mask-on') =>
    (await changeAndRepaint(page, change, text, limitMs)) ?? undefined;
  row.ablateMs = await step('ablate');
  row.maskMs = await step('mask-off');
  await step('mask-on');
  row.detailMs = (await focusAndRepaint(page, limitMs)) ?? undefined;
  Object.assign(row, peaks(backend));
  console.log(formatLong(row));
  return row;
}

/** A peak in GB, '' when not measured. */
const gb = (mb?: number) => (mb === undefined ? '' : (mb / 1024).toFixed(2));

function formatLong(r: LongRow): string {
  const gpu = r.gpuPeakMb === undefined ? '' : `, GPU process peak ${gb(r.gpuPeakMb)} GB`;
  const peak = `renderer peak ${gb(r.rendererPeakMb ?? 0)} GB${gpu}`;
  if (r.skipped) return `${r.model} ${r.backend} ${r.tokens}: ${r.skipped}, ${peak} by then`;
  const s = (v?: number) => (v === undefined ? 'did not repaint' : `${(v / 1000).toFixed(1)} s`);
  return `${r.model} ${r.backend} ${r.tokens}: traced run ${s(r.tracedMs)}, head ablation → repainted ${s(r.ablateMs)}, mask toggle → repainted ${s(r.maskMs)}, another layer in full → repainted ${s(r.detailMs)}, ${peak}`;
}

/** The rows as a markdown table. */
export function longTable(long: LongRow[]): string[] {
  const rows = [
    '| model | backend | tokens | traced run → painted (s) | head ablation → repainted (s) | mask toggle → repainted (s) | focus another layer → exact, repainted (s) | renderer peak (GB) | GPU process peak (GB) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const sec = (v?: number) => (v === undefined ? 'no repaint' : (v / 1000).toFixed(1));
  for (const r of long) {
    rows.push(
      r.skipped
        ? `| ${r.model} | ${r.backend} | ${r.tokens} | ${r.skipped} | | | | ${gb(r.rendererPeakMb ?? 0)} by then | ${gb(r.gpuPeakMb)} |`
        : `| ${r.model} | ${r.backend} | ${r.tokens} | ${sec(r.tracedMs)} | ${sec(r.ablateMs)} | ${sec(r.maskMs)} | ${sec(r.detailMs)} | ${gb(r.rendererPeakMb ?? 0)} | ${gb(r.gpuPeakMb)} |`,
    );
  }
  return rows;
}
