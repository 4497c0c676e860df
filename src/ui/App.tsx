import { useEffect, useRef, useSyncExternalStore } from 'react';
import { useLab, useLabStore } from './context';
import { isTyping, keyTarget, rovingAfter } from './lib/keys';
import { shownTheme, TABS, type Tab } from './lib/urlState';
import { attentionBlocks } from './store/shape';
import { ModelPicker } from './panels/ModelPicker';
import { BackendBadge } from './panels/BackendBadge';
import { Notices } from './panels/Notices';
import { InputPanel } from './panels/InputPanel';
import { ModelGuide } from './panels/ModelGuide';
import { Interventions } from './panels/Interventions';
import { AttentionPanel } from './panels/AttentionPanel';
import { ModelView } from './panels/ModelView';
import { StepThrough } from './panels/StepThrough';
import { HeadView } from './panels/HeadView';
import { PositionsPanel } from './panels/PositionsPanel';
import { NormsPanel } from './panels/NormsPanel';
import { EncDecPanel } from './panels/EncDecPanel';
import { MetricsTable } from './panels/MetricsTable';
import { CostPanel } from './panels/CostPanel';
import { RnnPanel } from './panels/RnnPanel';
import { GenerationPanel } from './panels/GenerationPanel';
import { TokenizerPanel } from './panels/TokenizerPanel';
import { InterpretPanel } from './panels/InterpretPanel';

const TAB_TITLES: Record<Tab, string> = {
  step: 'Step-through',
  heads: 'Head view',
  positions: 'Positions',
  norms: 'LayerNorm & residuals',
  encdec: 'Encoder–decoder',
  metrics: 'Head metrics',
  cost: 'Cost',
  rnn: 'RNN vs attention',
  generate: 'Generation & KV cache',
  tokenizer: 'Tokenizer',
  interpret: 'Interpret',
};

const TAB_PANELS: Record<Tab, () => React.ReactNode> = {
  step: StepThrough,
  heads: HeadView,
  positions: PositionsPanel,
  norms: NormsPanel,
  encdec: EncDecPanel,
  metrics: MetricsTable,
  cost: CostPanel,
  rnn: RnnPanel,
  generate: GenerationPanel,
  tokenizer: TokenizerPanel,
  interpret: InterpretPanel,
};

const DARK_QUERY = '(prefers-color-scheme: dark)';

/** The OS colour-scheme preference, followed live. */
function usePrefersDark(): boolean {
  return useSyncExternalStore(
    (onChange) => {
      const query = matchMedia(DARK_QUERY);
      query.addEventListener('change', onChange);
      return () => query.removeEventListener('change', onChange);
    },
    () => matchMedia(DARK_QUERY).matches,
  );
}

/** [ and ] move between heads, { and } between layers, s switches scores/probabilities. */
function useShortcuts() {
  const store = useLabStore();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isTyping(keyTarget(e.target)) || e.ctrlKey || e.metaKey || e.altKey) return;
      const s = store.getState();
      const cfg = s.modelInfo?.config;
      if (!cfg) return;
      const block = attentionBlocks(cfg).find(
        (b) => b.stack === s.focus.stack && b.kind === s.focus.kind,
      );
      const wrap = (x: number, n: number) => (x + n) % n;
      if (e.key === ']') s.setFocus({ ...s.focus, head: wrap(s.focus.head + 1, cfg.nHeads) });
      else if (e.key === '[') s.setFocus({ ...s.focus, head: wrap(s.focus.head - 1, cfg.nHeads) });
      else if (e.key === '}' && block)
        s.setFocus({ ...s.focus, layer: wrap(s.focus.layer + 1, block.layers) });
      else if (e.key === '{' && block)
        s.setFocus({ ...s.focus, layer: wrap(s.focus.layer - 1, block.layers) });
      else if (e.key === 's') s.setMode(s.mode === 'probs' ? 'scores' : 'probs');
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [store]);
}

function Tabs() {
  const tab = useLab((s) => s.tab);
  const setTab = useLab((s) => s.setTab);
  const list = useRef<HTMLDivElement>(null);
  const Panel = TAB_PANELS[tab];
  const onKeyDown = (e: React.KeyboardEvent) => {
    const next = rovingAfter(TABS, tab, e.key);
    if (next === null) return;
    e.preventDefault();
    setTab(next);
    list.current?.querySelector<HTMLElement>(`#tab-${next}`)?.focus();
  };
  return (
    <section className="panel tabs-panel">
      <div role="tablist" aria-label="views" className="tablist" ref={list} onKeyDown={onKeyDown}>
        {TABS.map((t) => (
          <button
            key={t}
            type="button"
            role="tab"
            id={`tab-${t}`}
            aria-selected={t === tab}
            aria-controls="tab-panel"
            tabIndex={t === tab ? 0 : -1}
            data-testid={`tab-${t}`}
            onClick={() => setTab(t)}
          >
            {TAB_TITLES[t]}
          </button>
        ))}
      </div>
      <div role="tabpanel" id="tab-panel" aria-labelledby={`tab-${tab}`}>
        <Panel />
      </div>
    </section>
  );
}

export function App() {
  const setTheme = useLab((s) => s.setTheme);
  const theme = shownTheme(
    useLab((s) => s.theme),
    usePrefersDark(),
  );
  const hasModel = useLab((s) => s.modelInfo !== null);
  useShortcuts();
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  return (
    <div className="app">
      <header className="app-header">
        <h1>Attention Lab</h1>
        <ModelPicker />
        <BackendBadge />
        <button
          type="button"
          data-testid="theme-toggle"
          aria-label={`switch to ${theme === 'light' ? 'dark' : 'light'} theme`}
          onClick={() => setTheme(theme === 'light' ? 'dark' : 'light')}
        >
          {theme === 'light' ? '☾ dark' : '☀ light'}
        </button>
      </header>
      <Notices />
      <div className="layout">
        <aside className="sidebar">
          <ModelGuide />
          <InputPanel />
          <Interventions />
        </aside>
        <main className="content">
          {hasModel ? (
            <>
              <div className="top-row">
                <AttentionPanel />
                <ModelView />
              </div>
              <Tabs />
            </>
          ) : (
            <p className="hint">Loading the model…</p>
          )}
        </main>
      </div>
      <footer className="small">
        Keys: ←/→ step through attention (buttons leave them alone) · [ ] previous/next head ·{' '}
        {'{ }'} previous/next layer · s scores ↔ probabilities · +/− zoom the focused heatmap,
        arrows explore its cells · arrows on a focused tab or value switch choose the next
      </footer>
    </div>
  );
}
