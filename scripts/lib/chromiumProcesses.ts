/** The Chromium processes a bench started (descendants of this Node process), read from /proc. */
import { readdirSync, readFileSync } from 'node:fs';

/** Chromium processes started by this script, by their `--type` (`browser` for the main one). */
export function chromiumProcesses(): { pid: number; type: string }[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const mine = (pid: number): boolean => {
    for (let p = parent.get(pid); p; p = parent.get(p)) if (p === process.pid) return true;
    return false;
  };
  const found: { pid: number; type: string }[] = [];
  for (const pid of parent.keys()) {
    if (!mine(pid)) continue;
    try {
      // Child processes rewrite their command line as one string: match, do not split.
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!/^\S*chromium/.test(cmdline)) continue;
      found.push({ pid, type: /--type=([\w-]+)/.exec(cmdline)?.[1] ?? 'browser' });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** A `/proc/PID/status` memory field (`VmRSS`, `VmHWM`) in bytes; 0 when the process is gone. */
export function statusBytes(pid: number, field: string): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return kb ? Number(kb[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
