/**
 * What the backend badge says. The worker lists each backend it passed over with its reason
 * (src/workers/backend.ts); the badge says in a few neutral words why it chose the one it runs,
 * since passing over a software WebGL is a choice for speed, not a failure. The full reasons
 * (renderer strings run long) go in the tooltip.
 */
import type { BackendInfo } from '../../workers/protocol';

export interface BackendText {
  /** Short note after the backend's name; '' when the first choice worked. */
  note: string;
  /** Renderer and every reason, one a line. */
  detail: string;
}

const SOFTWARE = /is a software renderer/;

function reasonOf(fallback: string): string {
  const name = fallback.slice(0, Math.max(0, fallback.indexOf(':'))) || fallback;
  if (name === 'webgl' && SOFTWARE.test(fallback))
    return 'the WebGL renderer is a software one, slower';
  return `${name} is unavailable here`;
}

export function backendText(info: BackendInfo): BackendText {
  const detail = [info.renderer, ...info.fallbacks].filter(Boolean).join('\n');
  const note = info.fallbacks.length
    ? `chose ${info.backend}: ${info.fallbacks.map(reasonOf).join('; ')}`
    : '';
  return { note, detail };
}
