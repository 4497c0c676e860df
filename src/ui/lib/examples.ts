/**
 * A shipped model's example (models/index.json): the input, head and query row of its first
 * screen, as the store applies them, and whether the input on screen is still that example.
 */
import type { ModelExample } from '../../workers/protocol';
import { parseHead, type HeadFocus } from './urlState';

export interface ExampleView {
  text: string;
  /** An encoder–decoder example's source; a decoder-only example leaves the source alone. */
  sourceText?: string;
  /** Null when the example's head is unreadable: the focus stays. */
  focus: HeadFocus | null;
  query: number;
}

export function exampleView(e: ModelExample): ExampleView {
  return {
    text: e.text,
    ...(e.source === undefined ? {} : { sourceText: e.source }),
    focus: parseHead(e.head),
    query: e.query,
  };
}

/** The input is the example's: the user has typed nothing of their own yet. */
export function showsExample(
  e: ModelExample | undefined,
  input: { text: string; sourceText: string },
): boolean {
  if (!e) return false;
  return input.text === e.text && (e.source === undefined || input.sourceText === e.source);
}
