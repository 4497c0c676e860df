/**
 * Which keys the page's shortcuts may take. A focused control owns the keys it acts on: text
 * fields own every key, and a tab, radio or slider owns the arrow keys, so a shortcut must not
 * fire as well. The page's rule, one for every control:
 *  - a plain button (toggles included) acts on Enter and Space only and never captures the
 *    arrows: after clicking "next" or a head toggle, ←/→ still step through attention;
 *  - a tab list and a radio group move their selection with the arrows (WAI-ARIA's tabs and
 *    radio group patterns, roving tabindex: `rovingAfter`), Home and End to the ends;
 *  - a slider (the heatmap overview) moves its window with the arrows;
 *  - a focused heatmap moves its cell cursor with the arrows, Home/End, PgUp/PgDn (Heatmap.tsx).
 */

/** What a key handler knows of the focused element. */
export interface KeyTarget {
  tagName: string;
  role: string | null;
}

const TEXT_TAGS = /^(INPUT|TEXTAREA|SELECT)$/;
const ARROW_ROLES = new Set(['tab', 'radio', 'slider', 'menuitem', 'option', 'spinbutton']);

export function keyTarget(target: EventTarget | null): KeyTarget | null {
  return target instanceof Element
    ? { tagName: target.tagName, role: target.getAttribute('role') }
    : null;
}

/** A text field (or select) has focus: no single-key shortcut applies. */
export function isTyping(t: KeyTarget | null): boolean {
  return t !== null && TEXT_TAGS.test(t.tagName.toUpperCase());
}

/** The focused element acts on arrow keys itself. */
export function ownsArrowKeys(t: KeyTarget | null): boolean {
  if (t === null) return false;
  return isTyping(t) || ARROW_ROLES.has(t.role ?? '');
}

/**
 * The item an arrow, Home or End key selects in a roving-tabindex group, wrapping; null for
 * other keys. A horizontal tab list takes ←/→; a radio group (`upDown`) also ↑/↓.
 */
export function rovingAfter<T>(
  items: readonly T[],
  current: T,
  key: string,
  upDown = false,
): T | null {
  const i = items.indexOf(current);
  const n = items.length;
  if (key === 'ArrowRight' || (upDown && key === 'ArrowDown')) return items[(i + 1) % n];
  if (key === 'ArrowLeft' || (upDown && key === 'ArrowUp')) return items[(i - 1 + n) % n];
  if (key === 'Home') return items[0];
  if (key === 'End') return items[n - 1];
  return null;
}
