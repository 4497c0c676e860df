/**
 * The engine's errors and the one place that turns any thrown value into the protocol's error
 * code (or into silence, for work that was superseded or cancelled).
 */
import { ForwardError } from '../model/model';
import { TokenizerError } from '../model/tokenizer';
import { FetchError, ModelFileError } from './fetchErrors';
import type { ErrorCode } from './protocol';

export class EngineError extends Error {
  override name = 'EngineError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A superseded load's fetches are aborted with this. */
export function superseded(): DOMException {
  return new DOMException('superseded', 'AbortError');
}

export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}

/**
 * What a broken backend throws: the WebAssembly module's traps once its memory is corrupt (the
 * wasm backend after an allocation failed half-way, see issue 15), or WebGL after its context is
 * gone. Every later request would fail the same way: only a new worker helps.
 */
const CORRUPT_MESSAGES =
  /memory access out of bounds|remainder by zero|divide by zero|unreachable|integer overflow|table index is out of bounds|CONTEXT_LOST_WEBGL|context (?:was |is )?lost/i;

export function isBackendCorrupt(e: unknown): boolean {
  if (typeof WebAssembly !== 'undefined' && e instanceof WebAssembly.RuntimeError) return true;
  return e instanceof Error && CORRUPT_MESSAGES.test(e.message);
}

/** The code a failed request reports; null for work that was superseded or cancelled. */
export function errorCodeOf(e: unknown): ErrorCode | null {
  if (e instanceof ForwardError) {
    if (e.code === 'cancelled') return null;
    return e.code === 'empty-input' || e.code === 'missing-source' ? e.code : 'bad-input';
  }
  if (isAbort(e)) return null;
  if (e instanceof EngineError) return e.code;
  if (e instanceof FetchError) return 'fetch-failed';
  if (e instanceof ModelFileError) return e.code === 'too-large' ? 'too-large' : 'bad-model';
  // While loading, tokenizer files are turned into `bad-model` first (see loading.ts); here a
  // tokenizer error is about the text or the ids the user gave.
  if (e instanceof TokenizerError) return 'bad-input';
  return isBackendCorrupt(e) ? 'backend-corrupt' : 'forward-failed';
}

/** A JSON file of the checkpoint, parsed; broken JSON is a bad model that names the file. */
export function parseJsonFile(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new EngineError('bad-model', `${file} is not valid JSON: ${(e as Error).message}`);
  }
}
