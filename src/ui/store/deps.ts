/** What every slice is made with: the store's setters and the app's dependencies. */
import type { StoreApi } from 'zustand/vanilla';
import type { ModelIndex } from '../../workers/protocol';
import type { ViewState } from '../lib/urlState';
import type { EngineFactory } from './engine';
import type { LabState } from './types';

export interface StoreDeps {
  createEngine: EngineFactory;
  /** `models/index.json`, checked. */
  fetchIndex(): Promise<ModelIndex>;
  /** Any JSON file next to the page (training.json). */
  fetchJson(url: string): Promise<unknown>;
  /** Delay between the last keystroke and the run it triggers. */
  debounceMs?: number;
  /** The view to start from (the URL hash). */
  initialView?: ViewState;
  /**
   * The sample text the app starts with when the URL names none: it suits a language model, so an
   * encoder–decoder model starts from an empty target prefix instead.
   */
  sampleText?: string;
  /** The URL named no input: the first model's example (index.json) is the first screen. */
  exampleOnLoad?: boolean;
}

export type Set = StoreApi<LabState>['setState'];
export type Get = StoreApi<LabState>['getState'];
