import { describe, expect, it } from 'vitest';
import { findChromium, whenMissing, type System } from '../../scripts/lib/chromium';

/** A machine with exactly these executables and folders. */
function machine(
  executables: string[],
  over: Partial<System> & { folders?: Record<string, string[]> } = {},
): System {
  const { folders = {}, ...rest } = over;
  return {
    env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
    executable: (path) => executables.includes(path),
    list: (path) => folders[path] ?? [],
    home: '/home/u',
    isRoot: false,
    isDebianLike: true,
    ...rest,
  };
}

describe('finding Chromium for the end-to-end tests', () => {
  it('takes $CHROMIUM first, and reports it when it names nothing', () => {
    const both = ['/opt/c/chrome', '/usr/bin/chromium'];
    const env = { PATH: '/usr/bin', CHROMIUM: '/opt/c/chrome' };
    expect(findChromium(machine(both, { env }))).toEqual({
      kind: 'found',
      path: '/opt/c/chrome',
      source: '$CHROMIUM',
    });
    const missing = findChromium(machine(['/usr/bin/chromium'], { env }));
    expect(missing).toEqual({ kind: 'bad-env', path: '/opt/c/chrome' });
    // An explicit choice that is wrong is never "fixed" by installing another browser.
    const root = machine([], { env, isRoot: true });
    expect(whenMissing(missing as { kind: 'bad-env'; path: string }, root)).toEqual({
      install: false,
      message: 'CHROMIUM=/opt/c/chrome is not an executable file.',
    });
  });

  it('searches PATH by name, chromium before chromium-browser before google-chrome', () => {
    const system = machine(['/usr/bin/google-chrome', '/usr/local/bin/chromium-browser']);
    expect(findChromium(system)).toMatchObject({ path: '/usr/local/bin/chromium-browser' });
    expect(findChromium(machine(['/usr/bin/google-chrome']))).toMatchObject({
      path: '/usr/bin/google-chrome',
      source: 'PATH',
    });
    // Not on PATH: not found.
    expect(findChromium(machine(['/snap/bin/chromium']))).toEqual({ kind: 'none' });
  });

  it("falls back to Playwright's cache, newest full build first", () => {
    const cache = '/home/u/.cache/ms-playwright';
    const folders = { [cache]: ['chromium-1140', 'chromium_headless_shell-1169', 'chromium-1169'] };
    const system = machine(
      [
        `${cache}/chromium-1140/chrome-linux/chrome`,
        `${cache}/chromium-1169/chrome-linux64/chrome`,
        `${cache}/chromium_headless_shell-1169/chrome-linux/headless_shell`,
      ],
      { folders },
    );
    expect(findChromium(system)).toEqual({
      kind: 'found',
      path: `${cache}/chromium-1169/chrome-linux64/chrome`,
      source: 'Playwright cache',
    });
    const moved = machine(['/pw/chromium-1/chrome-linux/chrome'], {
      env: { PATH: '/usr/bin', PLAYWRIGHT_BROWSERS_PATH: '/pw' },
      folders: { '/pw': ['chromium-1', 'firefox-2'] },
    });
    expect(findChromium(moved)).toMatchObject({ path: '/pw/chromium-1/chrome-linux/chrome' });
  });

  it('installs only as root on Debian or Ubuntu, and otherwise says how in one line', () => {
    const none = { kind: 'none' } as const;
    expect(whenMissing(none, machine([], { isRoot: true }))).toEqual({ install: true });
    for (const system of [
      machine([]),
      machine([], { isRoot: true, isDebianLike: false }),
      machine([], { isRoot: true, env: { PATH: '/usr/bin', CHROMIUM_INSTALL: '0' } }),
    ]) {
      const next = whenMissing(none, system);
      expect(next.install).toBe(false);
      if (!next.install) {
        expect(next.message).toMatch(/apt-get install chromium.*CHROMIUM=/);
        expect(next.message).not.toContain('\n');
      }
    }
  });
});
