/**
 * The whole view state in the URL hash, so a link reproduces what is on screen: model, input,
 * interventions, focused head, what the panels show. Only values that differ from the defaults
 * are written; anything unreadable parses back to its default rather than failing.
 */
import type { Stack } from '../../model/trace';
import type { HeadRef } from '../../workers/protocol';
import { IDENTITY, type ViewTransform } from './layout';

export const TABS = [
  'step',
  'heads',
  'positions',
  'norms',
  'encdec',
  'metrics',
  'cost',
  'rnn',
  'generate',
  'tokenizer',
  'interpret',
] as const;
export type Tab = (typeof TABS)[number];
/** `weighted`: attention × ‖value‖, α_ij ‖v_j W_O^h‖ (model/analysis/valueNorms.ts). */
export type ValueMode = 'probs' | 'scores' | 'weighted';
/** `system` until the user picks one: the page then follows the OS preference. */
export type Theme = 'light' | 'dark' | 'system';
export type AttentionKind = 'self' | 'cross';

export interface HeadFocus extends HeadRef {
  kind: AttentionKind;
}

/** An ablated head; `attention` tells a decoder layer's self- from its cross-attention. */
export interface AblatedHead extends HeadRef {
  attention?: AttentionKind;
}

export interface ViewState {
  /** Shipped model name; '' for the default. */
  model: string;
  text: string;
  /** Source text of an encoder–decoder model. */
  sourceText: string;
  causalMask: boolean;
  usePositions: boolean;
  ablated: AblatedHead[];
  focus: HeadFocus;
  mode: ValueMode;
  /** Aggregate subword pieces to words. */
  words: boolean;
  /** Query row of the step-through. */
  query: number;
  tab: Tab;
  theme: Theme;
  zoom: ViewTransform;
  /** Model shown next to this one in the norm comparison; '' to pick automatically. */
  compareModel: string;
}

export const DEFAULT_VIEW: ViewState = {
  model: '',
  text: '',
  sourceText: '',
  causalMask: true,
  usePositions: true,
  ablated: [],
  focus: { stack: 'decoder', layer: 0, head: 0, kind: 'self' },
  mode: 'probs',
  words: false,
  query: 0,
  tab: 'step',
  theme: 'system',
  zoom: IDENTITY,
  compareModel: '',
};

const STACK_LETTER: Record<Stack, string> = { encoder: 'e', decoder: 'd' };
/** Numbers without leading zeros, so that one head has one spelling; only a decoder has `x`. */
const INDEX = '(0|[1-9]\\d{0,3})';
const HEAD_RE = new RegExp(`^(?:e${INDEX}\\.${INDEX}|d${INDEX}\\.${INDEX}(x?))$`);
/**
 * Ablations read from a URL at most: more than any model here has heads (GPT-2 large has 720),
 * so that a crafted link cannot make every run carry thousands.
 */
export const MAX_ABLATIONS = 1024;

/** `d1.2` (decoder layer 1 head 2), `e0.3`, `d1.2x` for cross-attention. */
export function formatHead(h: HeadRef, kind: AttentionKind = 'self'): string {
  return `${STACK_LETTER[h.stack]}${h.layer}.${h.head}${kind === 'cross' ? 'x' : ''}`;
}

export function parseHead(s: string): (HeadRef & { kind: AttentionKind }) | null {
  const m = HEAD_RE.exec(s);
  if (!m) return null;
  const encoder = m[1] !== undefined;
  return {
    stack: encoder ? 'encoder' : 'decoder',
    layer: Number(encoder ? m[1] : m[3]),
    head: Number(encoder ? m[2] : m[4]),
    kind: m[5] ? 'cross' : 'self',
  };
}

export function sameHead(a: HeadRef, b: HeadRef): boolean {
  return a.stack === b.stack && a.layer === b.layer && a.head === b.head;
}

/** One attention of a model: its stack, kind and number of layers (see ui/store/shape.ts). */
export interface AttentionLayers {
  stack: Stack;
  kind: AttentionKind;
  layers: number;
}

/**
 * The ablations that name heads the model has: a link made for another model (or crafted) must
 * not report heads ablated that do not exist.
 */
export function ablationsIn(
  ablated: readonly AblatedHead[],
  blocks: readonly AttentionLayers[],
  heads: number,
): AblatedHead[] {
  return ablated.filter(
    (h) =>
      h.head < heads &&
      blocks.some(
        (b) => b.stack === h.stack && b.kind === (h.attention ?? 'self') && h.layer < b.layers,
      ),
  );
}

/** Same head of the same attention (self unless said otherwise). */
export function sameAblation(a: AblatedHead, b: AblatedHead): boolean {
  return sameHead(a, b) && (a.attention ?? 'self') === (b.attention ?? 'self');
}

/** The theme drawn: the user's choice, else the OS's `prefers-color-scheme`. */
export function shownTheme(theme: Theme, prefersDark: boolean): 'light' | 'dark' {
  return theme === 'system' ? (prefersDark ? 'dark' : 'light') : theme;
}

function formatNumber(x: number): string {
  return String(Math.round(x * 100) / 100);
}

/**
 * The hash of a view. `hasSource` is false once the model is known to read no source text (a
 * decoder-only LM): its links then carry no `src` (the encoder–decoder default would ride along
 * in every LM link otherwise). While the model is unknown (loading, failed) the source is kept.
 */
export function serializeView(v: ViewState, hasSource = true): string {
  const p = new URLSearchParams();
  const d = DEFAULT_VIEW;
  if (v.model !== d.model) p.set('model', v.model);
  if (v.text !== d.text) p.set('text', v.text);
  if (hasSource && v.sourceText !== d.sourceText) p.set('src', v.sourceText);
  if (!v.causalMask) p.set('mask', '0');
  if (!v.usePositions) p.set('pos', '0');
  if (v.ablated.length) {
    p.set('ablate', v.ablated.map((h) => formatHead(h, h.attention)).join(','));
  }
  if (!sameHead(v.focus, d.focus) || v.focus.kind !== d.focus.kind) {
    p.set('head', formatHead(v.focus, v.focus.kind));
  }
  if (v.mode !== d.mode) p.set('values', v.mode);
  if (v.words) p.set('words', '1');
  if (v.query !== d.query) p.set('q', String(v.query));
  if (v.tab !== d.tab) p.set('tab', v.tab);
  if (v.theme !== d.theme) p.set('theme', v.theme);
  if (v.zoom.k !== 1 || v.zoom.x !== 0 || v.zoom.y !== 0) {
    p.set('zoom', [v.zoom.k, v.zoom.x, v.zoom.y].map(formatNumber).join(','));
  }
  if (v.compareModel !== d.compareModel) p.set('compare', v.compareModel);
  return p.toString();
}

function nonNegativeInt(s: string | null, fallback: number): number {
  if (s === null || !/^\d{1,6}$/.test(s)) return fallback;
  return Number(s);
}

export function parseView(hash: string): ViewState {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const d = DEFAULT_VIEW;
  const v: ViewState = { ...d, focus: { ...d.focus }, ablated: [] };
  v.model = p.get('model') ?? d.model;
  v.text = p.get('text') ?? d.text;
  v.sourceText = p.get('src') ?? d.sourceText;
  v.causalMask = p.get('mask') !== '0';
  v.usePositions = p.get('pos') !== '0';
  for (const item of (p.get('ablate') ?? '').split(',', MAX_ABLATIONS)) {
    const parsed = parseHead(item);
    if (!parsed) continue;
    const { kind, ...ref } = parsed;
    const h: AblatedHead = kind === 'cross' ? { ...ref, attention: 'cross' } : ref;
    if (!v.ablated.some((a) => sameAblation(a, h))) v.ablated.push(h);
  }
  const head = parseHead(p.get('head') ?? '');
  if (head) v.focus = head;
  const values = p.get('values');
  v.mode = values === 'scores' || values === 'weighted' ? values : 'probs';
  v.words = p.get('words') === '1';
  v.query = nonNegativeInt(p.get('q'), d.query);
  const tab = p.get('tab');
  v.tab = (TABS as readonly string[]).includes(tab ?? '') ? (tab as Tab) : d.tab;
  const theme = p.get('theme');
  v.theme = theme === 'dark' || theme === 'light' ? theme : 'system';
  const zoom = (p.get('zoom') ?? '').split(',').map(Number);
  if (zoom.length === 3 && zoom.every(Number.isFinite) && zoom[0] >= 1) {
    v.zoom = { k: zoom[0], x: zoom[1], y: zoom[2] };
  }
  v.compareModel = p.get('compare') ?? d.compareModel;
  return v;
}
