/** Whether "generate next token" can run on the run on screen, and if not, why (said on the page). */
import type { Continuation } from '../../workers/protocol';

export function generateBlocked(
  tokens: number,
  contextLength: number,
  continuation: Continuation | null,
): string | null {
  if (tokens >= contextLength) {
    return `The context is full: this model reads at most ${contextLength} tokens, so it cannot append another.`;
  }
  if (continuation?.ended)
    return 'The model has ended the text: its next token is the end of text.';
  return null;
}
