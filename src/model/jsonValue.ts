/**
 * How error messages of the file readers show a value they refuse: what was found, never the
 * word "undefined", and never a megabyte of it.
 */

const MAX_CHARS = 60;

/** `it is missing`, `it is "3"`, `it is [1,2]`: the end of a sentence about a refused value. */
export function found(value: unknown): string {
  if (value === undefined) return 'it is missing';
  const text = typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
  return `it is ${text.length > MAX_CHARS ? `${text.slice(0, MAX_CHARS - 1)}…` : text}`;
}
