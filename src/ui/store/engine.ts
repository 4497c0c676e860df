/**
 * What the store needs from the engine: the worker client's public methods (one declaration, in
 * `src/client/client.ts`), so the store runs against a fake in unit tests.
 */
import type { EngineClient, EngineListener } from '../../client/client';

export type Engine = Pick<
  EngineClient,
  | 'load'
  | 'cancelLoad'
  | 'run'
  | 'generate'
  | 'analyse'
  | 'detail'
  | 'cancel'
  | 'restart'
  | 'modelCache'
  | 'dispose'
  | 'measureRnnVsAttention'
  | 'askTokenizer'
  | 'dispose'
>;

/** `main` runs what the panels show; `compare` is the second model of the norm comparison. */
export type EngineRole = 'main' | 'compare';

export type EngineFactory = (listener: EngineListener, role: EngineRole) => Engine;
