/**
 * Entry point: one store (which owns the engine clients), the URL hash kept in step with the
 * view, the service worker that keeps the app usable offline, and React on top.
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import './ui/styles.css';
import { EngineClient } from './client/client';
import { backendFromUrl, fetchModelIndex, threadsFromUrl } from './client/page';
import { App } from './ui/App';
import { StoreContext } from './ui/context';
import { parseView, serializeView } from './ui/lib/urlState';
import { batchChunksPerFrame } from './ui/store/frameBatch';
import { createLabStore, viewOf, type LabStore } from './ui/store/store';

declare module './client/debug' {
  interface DebugHandle {
    /** The app's store, for the e2e tests: state, actions and the trace behind every canvas. */
    store?: LabStore;
  }
}

const DEFAULT_TEXT = 'The cat sat on the mat. The cat sat on the';
const DEFAULT_SOURCE = 'March 3, 1999';

const initialView = parseView(location.hash);
// A link with no input opens on the model's example (models/index.json), or this sample text.
const exampleOnLoad = !/(^|[#&])(text|src)=/.test(location.hash);
if (!location.hash.includes('text=')) initialView.text = DEFAULT_TEXT;
if (!location.hash.includes('src=')) initialView.sourceText = DEFAULT_SOURCE;

const backend = backendFromUrl(location.href);
const threads = threadsFromUrl(location.href);
const store = createLabStore({
  createEngine: (listener, role) =>
    new EngineClient(batchChunksPerFrame(listener, requestAnimationFrame), {
      ...(backend ? { backend } : {}),
      ...(threads ? { threads } : {}),
      debugHandle: role === 'main',
    }),
  fetchIndex: () => fetchModelIndex(),
  fetchJson: async (url) => {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  },
  initialView,
  sampleText: DEFAULT_TEXT,
  exampleOnLoad,
});
if (window.__attentionLab) window.__attentionLab.store = store;

// The URL hash follows the view (replaceState: typing must not flood the history) and the view
// follows a hash the user edits or pastes. The hash is written a moment after the view settles,
// in a task of its own: in Chromium a replaceState is a round trip to the browser process and a
// style recalculation for :target, and in the frame that paints a run it made that frame a long
// task (docs/performance.md).
const HASH_DELAY_MS = 250;
let lastHash = '';
let hashTimer: ReturnType<typeof setTimeout> | undefined;
store.subscribe((state) => {
  const architecture = state.modelInfo?.config.architecture;
  const hash = serializeView(
    viewOf(state),
    architecture === undefined || architecture === 'encoder-decoder',
  );
  if (hash === lastHash) return;
  lastHash = hash;
  clearTimeout(hashTimer);
  hashTimer = setTimeout(() => {
    if (location.hash.replace(/^#/, '') !== lastHash)
      history.replaceState(null, '', `#${lastHash}`);
  }, HASH_DELAY_MS);
});
window.addEventListener('hashchange', () => {
  if (location.hash.replace(/^#/, '') !== lastHash)
    store.getState().applyView(parseView(location.hash));
});

void store.getState().fetchModelIndex();

if ('serviceWorker' in navigator && import.meta.env.PROD) {
  navigator.serviceWorker.register('./sw.js').catch((e: Error) => {
    store.getState().notify('info', `Offline use is unavailable: ${e.message}`);
  });
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <StoreContext.Provider value={store}>
      <App />
    </StoreContext.Provider>
  </StrictMode>,
);
