/**
 * The Content-Security-Policy: a `<meta>` tag in the built page, and a header from `npm start`
 * and `npm run preview` (the header also covers the engine worker and the service worker, whose
 * policy comes from their own responses, never from the page's meta tag). It allows what the
 * app does and nothing more:
 *  - scripts and styles from the app's own origin only: no inline script, no eval; React, d3 and
 *    KaTeX set styles through the CSSOM, which style-src does not govern;
 *  - 'wasm-unsafe-eval': tfjs-backend-wasm compiles its WebAssembly binary;
 *  - blob: workers and scripts: with threads (a cross-origin-isolated page), tfjs-backend-wasm
 *    starts its pthread workers from a Blob of its own glue code;
 *  - connect-src: the app's origin and any https URL, since a model may be loaded from any URL
 *    the user types (the Hugging Face Hub redirects to its CDNs, e.g. cas-bridge.xethub.hf.co),
 *    plus plain http on this machine (a local model server); everything else plain-http is
 *    refused;
 *  - data: images and fonts: the empty favicon, and KaTeX's smallest fonts, which Vite inlines
 *    into its stylesheet (assets under 4 kB);
 *  - no plugins, no forms, no <base> elsewhere.
 */
import { randomBytes } from 'node:crypto';
import type { Plugin } from 'vite';

const DIRECTIVES: Record<string, string[]> = {
  'default-src': ["'self'"],
  'script-src': ["'self'", "'wasm-unsafe-eval'", 'blob:'],
  'worker-src': ["'self'", 'blob:'],
  'style-src': ["'self'"],
  // blob: for the PNG export, which rasterises the view's SVG through an <img> (svgToPng).
  'img-src': ["'self'", 'data:', 'blob:'],
  'font-src': ["'self'", 'data:'],
  'connect-src': ["'self'", 'https:', 'http://localhost:*', 'http://127.0.0.1:*'],
  'object-src': ["'none'"],
  'base-uri': ["'self'"],
  'form-action': ["'none'"],
};

/** The policy as one header value; `extra` adds sources to a directive. */
export function policy(extra: Record<string, string[]> = {}): string {
  const names = new Set([...Object.keys(DIRECTIVES), ...Object.keys(extra)]);
  return [...names]
    .map((name) => [name, ...(DIRECTIVES[name] ?? []), ...(extra[name] ?? [])].join(' '))
    .join('; ');
}

/** Only a header can say who may frame the page (a meta tag's frame-ancestors is ignored). */
const HEADER_ONLY = { 'frame-ancestors': ["'none'"] };

export function contentSecurityPolicy(): Plugin {
  // `npm start` injects its React-refresh preamble and CSS as inline tags: Vite marks each with
  // this nonce (html.cspNonce), new on every start, and only the dev server's header allows it.
  const nonce = randomBytes(16).toString('base64');
  const dev = policy({
    ...HEADER_ONLY,
    'script-src': [`'nonce-${nonce}'`],
    'style-src': [`'nonce-${nonce}'`],
  });
  const built = policy(HEADER_ONLY);
  return {
    name: 'attention-lab-csp',
    config: (_, { command }) => (command === 'serve' ? { html: { cspNonce: nonce } } : {}),
    configureServer(server) {
      server.middlewares.use((_request, response, next) => {
        response.setHeader('Content-Security-Policy', dev);
        next();
      });
    },
    configurePreviewServer(server) {
      server.middlewares.use((_request, response, next) => {
        response.setHeader('Content-Security-Policy', built);
        next();
      });
    },
    transformIndexHtml: {
      order: 'post',
      handler: (_html, context) =>
        context.server
          ? []
          : [
              {
                tag: 'meta',
                attrs: { 'http-equiv': 'Content-Security-Policy', content: policy() },
                injectTo: 'head-prepend',
              },
            ],
    },
  };
}
