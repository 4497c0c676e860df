/** The store reaches components through context, so tests and the app can hand in their own. */
import { createContext, useContext } from 'react';
import { useStore } from 'zustand';
import type { LabStore } from './store/store';
import type { LabState } from './store/types';

export const StoreContext = createContext<LabStore | null>(null);

export function useLabStore(): LabStore {
  const store = useContext(StoreContext);
  if (!store) throw new Error('useLab outside <StoreContext.Provider>');
  return store;
}

/** Subscribe to one narrow piece of state; the selector must return a stable reference. */
export function useLab<T>(selector: (s: LabState) => T): T {
  return useStore(useLabStore(), selector);
}
