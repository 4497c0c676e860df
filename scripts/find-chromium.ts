/**
 * `npm run test:e2e` starts here: find the Chromium the end-to-end tests drive
 * (scripts/lib/chromium.ts); where there is none and this is root on Debian or Ubuntu, install
 * Debian's `chromium` with apt-get and say so; otherwise stop with one line that says how.
 *
 *   npx tsx scripts/find-chromium.ts     # prints the path, exit 0; or the how-to, exit 1
 */
import { spawnSync } from 'node:child_process';
import { findChromium, systemOf, whenMissing } from './lib/chromium';

function main(): number {
  const system = systemOf();
  let found = findChromium(system);
  if (found.kind !== 'found') {
    const next = whenMissing(found, system);
    if (!next.install) {
      console.error(next.message);
      return 1;
    }
    console.log('No Chromium found: installing Debian’s `chromium` with apt-get (root)…');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [
      ['update', '-qq'],
      ['install', '-y', '-qq', 'chromium'],
    ]) {
      const result = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env });
      if (result.status !== 0) {
        console.error(`\`apt-get ${args.join(' ')}\` failed: install Chromium or set CHROMIUM.`);
        return 1;
      }
    }
    found = findChromium(system);
    if (found.kind !== 'found') {
      console.error('apt-get installed chromium, but it is not on PATH: set CHROMIUM.');
      return 1;
    }
  }
  console.log(`Chromium for the end-to-end tests: ${found.path} (${found.source})`);
  return 0;
}

process.exitCode = main();
