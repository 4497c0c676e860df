/**
 * Which keys the page's shortcuts may take. A focused control owns the keys it acts on: text
 * fields own every key, and a tab, radio or slider owns the arrow keys (a tab list moves between
 * its tabs with them, WAI-ARIA's roving tabindex), so a shortcut must not fire as well. A plain
 * button acts on Enter and Space only: after clicking "next" the arrows still step.
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

/** The tab an arrow, Home or End key selects in a horizontal tab list; null for other keys. */
export function tabAfter<T>(tabs: readonly T[], current: T, key: string): T | null {
  const i = tabs.indexOf(current);
  const n = tabs.length;
  if (key === 'ArrowRight') return tabs[(i + 1) % n];
  if (key === 'ArrowLeft') return tabs[(i - 1 + n) % n];
  if (key === 'Home') return tabs[0];
  if (key === 'End') return tabs[n - 1];
  return null;
}
