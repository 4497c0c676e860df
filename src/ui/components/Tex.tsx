import { useEffect, useRef } from 'react';
import katex from 'katex';
import { framePaints } from './canvas';

/** KaTeX rendered straight into an element (no HTML strings through React), in a paint frame. */
export function Tex({ tex, display = true }: { tex: string; display?: boolean }) {
  const ref = useRef<HTMLSpanElement>(null);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    framePaints.schedule(element, () =>
      katex.render(tex, element, { displayMode: display, throwOnError: false }),
    );
    return () => framePaints.cancel(element);
  }, [tex, display]);
  return <span ref={ref} className="tex" data-testid="tex" />;
}
