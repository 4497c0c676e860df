import { useEffect, useRef } from 'react';
import katex from 'katex';
import { drawQueue } from './canvas';

/** KaTeX rendered straight into an element (no HTML strings through React), from the draw queue. */
export function Tex({ tex, display = true }: { tex: string; display?: boolean }) {
  const ref = useRef<HTMLSpanElement>(null);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    drawQueue.schedule(element, () =>
      katex.render(tex, element, { displayMode: display, throwOnError: false }),
    );
    return () => drawQueue.cancel(element);
  }, [tex, display]);
  return <span ref={ref} className="tex" data-testid="tex" />;
}
