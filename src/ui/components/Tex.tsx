import { useEffect, useRef } from 'react';
import katex from 'katex';

/** KaTeX rendered straight into an element (no HTML strings through React). */
export function Tex({ tex, display = true }: { tex: string; display?: boolean }) {
  const ref = useRef<HTMLSpanElement>(null);
  useEffect(() => {
    if (ref.current) katex.render(tex, ref.current, { displayMode: display, throwOnError: false });
  }, [tex, display]);
  return <span ref={ref} className="tex" data-testid="tex" />;
}
