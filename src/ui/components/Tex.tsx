import { useEffect, useRef } from 'react';
import { drawQueue } from './canvas';

type Katex = typeof import('katex').default;
let katex: Promise<Katex> | undefined;

/**
 * KaTeX and its stylesheet (fonts included) load on the first formula, not with the page: most
 * views draw none, and together they are the largest thing the first screen would wait for.
 */
function loadKatex(): Promise<Katex> {
  katex ??= Promise.all([import('katex'), import('katex/dist/katex.min.css')]).then(
    ([module]) => module.default,
    (error: unknown) => {
      katex = undefined; // the next formula tries again (e.g. back online)
      throw error;
    },
  );
  return katex;
}

/** KaTeX rendered straight into an element (no HTML strings through React), from the draw queue. */
export function Tex({ tex, display = true }: { tex: string; display?: boolean }) {
  const ref = useRef<HTMLSpanElement>(null);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    let live = true;
    loadKatex().then(
      (k) => {
        if (!live) return;
        drawQueue.schedule(element, () =>
          k.render(tex, element, { displayMode: display, throwOnError: false }),
        );
      },
      () => {
        // Without KaTeX the formula's source still says what it means.
        if (live) element.textContent = tex;
      },
    );
    return () => {
      live = false;
      drawQueue.cancel(element);
    };
  }, [tex, display]);
  return <span ref={ref} className="tex" data-testid="tex" />;
}
