/** Shared test helpers: fixtures on disk and nested-array comparison. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

export interface FixtureCase {
  input_ids: number[];
  decoder_input_ids?: number[];
  [key: string]: unknown;
}

export function readExpected(name: string): { reference: string; cases: FixtureCase[] } {
  return JSON.parse(readFileSync(join(FIXTURES, name, 'expected.json'), 'utf8'));
}

/**
 * Largest |a − b| over two nested structures of numbers; throws where their structure differs
 * (a missing key or a wrong length must fail, not be skipped).
 */
export function maxAbsDiff(a: unknown, b: unknown, path = '$'): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b);
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) throw new Error(`${path}: length ${a.length} vs ${b.length}`);
    return a.reduce((m: number, x, i) => Math.max(m, maxAbsDiff(x, b[i], `${path}[${i}]`)), 0);
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    if (ka.join() !== kb.join()) throw new Error(`${path}: keys ${ka.join()} vs ${kb.join()}`);
    return ka.reduce(
      (m, k) =>
        Math.max(
          m,
          maxAbsDiff(
            (a as Record<string, unknown>)[k],
            (b as Record<string, unknown>)[k],
            `${path}.${k}`,
          ),
        ),
      0,
    );
  }
  throw new Error(
    `${path}: ${JSON.stringify(a)?.slice(0, 40)} vs ${JSON.stringify(b)?.slice(0, 40)}`,
  );
}
