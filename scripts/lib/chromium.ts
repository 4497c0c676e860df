/**
 * Which Chromium the end-to-end tests and the bench drive, and what to do on a machine without
 * one. The lookup is pure over `System` so the unit test can play any machine; `systemOf()` is
 * this machine. Order: `$CHROMIUM` (an explicit choice: used or reported, never second-guessed),
 * the browsers on `PATH`, then Playwright's download cache.
 */
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** What the lookup may ask of a machine. */
export interface System {
  env: Record<string, string | undefined>;
  /** Whether `path` is an executable file. */
  executable(path: string): boolean;
  /** Entries of a folder, or [] when it does not exist. */
  list(path: string): string[];
  home: string;
  isRoot: boolean;
  /** Debian, Ubuntu or a derivative (`/etc/os-release` says `debian` in ID or ID_LIKE). */
  isDebianLike: boolean;
}

/** Names a Chromium goes by on PATH, in the order tried. */
export const BROWSER_NAMES = [
  'chromium',
  'chromium-browser',
  'google-chrome',
  'google-chrome-stable',
  'chrome',
];

/** Executables inside one of Playwright's cached browser folders (`chromium-1169/…`). */
const PLAYWRIGHT_EXECUTABLES = [
  'chrome-linux/chrome',
  'chrome-linux64/chrome',
  'chrome-linux/headless_shell',
  'chrome-headless-shell-linux64/chrome-headless-shell',
];

export type Found =
  | { kind: 'found'; path: string; source: string }
  /** `$CHROMIUM` names something that is not an executable. */
  | { kind: 'bad-env'; path: string }
  | { kind: 'none' };

export function findChromium(system: System): Found {
  const chosen = system.env.CHROMIUM;
  if (chosen) {
    return system.executable(chosen)
      ? { kind: 'found', path: chosen, source: '$CHROMIUM' }
      : { kind: 'bad-env', path: chosen };
  }
  const dirs = (system.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const name of BROWSER_NAMES) {
    for (const dir of dirs) {
      const path = join(dir, name);
      if (system.executable(path)) return { kind: 'found', path, source: 'PATH' };
    }
  }
  const cache = system.env.PLAYWRIGHT_BROWSERS_PATH || join(system.home, '.cache', 'ms-playwright');
  // Newest build first: `chromium-1169` sorts after `chromium-1140`; the full browser before
  // the headless shell.
  const builds = system
    .list(cache)
    .filter((d) => /^chromium(?:_headless_shell)?-\d+$/.test(d))
    .sort((a, b) => rank(b) - rank(a));
  for (const build of builds) {
    for (const exe of PLAYWRIGHT_EXECUTABLES) {
      const path = join(cache, build, exe);
      if (system.executable(path)) return { kind: 'found', path, source: 'Playwright cache' };
    }
  }
  return { kind: 'none' };
}

function rank(build: string): number {
  const n = Number(build.slice(build.lastIndexOf('-') + 1));
  return build.startsWith('chromium_headless_shell') ? n - 1e9 : n;
}

/** What to do when `findChromium` found nothing: install, or one line that says how. */
export function whenMissing(
  found: Exclude<Found, { kind: 'found' }>,
  system: System,
): { install: true } | { install: false; message: string } {
  if (found.kind === 'bad-env')
    return { install: false, message: `CHROMIUM=${found.path} is not an executable file.` };
  if (system.isRoot && system.isDebianLike && system.env.CHROMIUM_INSTALL !== '0')
    return { install: true };
  return {
    install: false,
    message:
      'No Chromium found for the end-to-end tests: install one (Debian/Ubuntu: `sudo apt-get ' +
      'install chromium`) or set CHROMIUM=/path/to/chrome.',
  };
}

/** The lookup's view of this machine. */
export function systemOf(env: Record<string, string | undefined> = process.env): System {
  let osRelease = '';
  try {
    osRelease = readFileSync('/etc/os-release', 'utf8');
  } catch {
    // Not Linux, or a minimal image: not Debian-like.
  }
  return {
    env,
    executable(path) {
      try {
        accessSync(path, constants.X_OK);
        return !readdirSafe(path);
      } catch {
        return false;
      }
    },
    list: (path) => readdirSafe(path) ?? [],
    home: homedir(),
    isRoot: process.getuid?.() === 0,
    isDebianLike: /^ID(?:_LIKE)?=.*\b(?:debian|ubuntu)\b/m.test(osRelease),
  };
}

/** Entries of `path` if it is a folder, else null. */
function readdirSafe(path: string): string[] | null {
  try {
    return existsSync(path) ? readdirSync(path) : null;
  } catch {
    return null;
  }
}

/** The Chromium the harness launches; throws the one-line how-to when there is none. */
export function chromiumPath(): string {
  const system = systemOf();
  const found = findChromium(system);
  if (found.kind === 'found') return found.path;
  const next = whenMissing(found, system);
  throw new Error(
    next.install ? 'No Chromium found: `npm run test:e2e` installs Debian’s.' : next.message,
  );
}
