/**
 * The command line the random-checkpoint scripts share (make-random-gpt2.ts, make-random-llama.ts):
 * `--out DIR` and `--dtype f32|f16` (default f16), then `config.json` and `model.safetensors`
 * written into DIR, and what was written said.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Whether the module at `moduleUrl` (its import.meta.url) is the script node was started with. */
export function isEntryPoint(moduleUrl: string): boolean {
  return Boolean(process.argv[1]) && moduleUrl === pathToFileURL(resolve(process.argv[1])).href;
}

export type RandomCheckpoint = { config: Record<string, unknown>; safetensors: Uint8Array };

export async function writeRandomCheckpoint(
  defaultOut: string,
  make: (dtype: 'F32' | 'F16') => RandomCheckpoint | Promise<RandomCheckpoint>,
): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: string) => {
    const at = args.indexOf(name);
    return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
  };
  const out = resolve(option('--out', defaultOut));
  const dtype = option('--dtype', 'f16').toUpperCase();
  if (dtype !== 'F32' && dtype !== 'F16') throw new Error('--dtype must be f32 or f16');
  const started = Date.now();
  const { config, safetensors } = await make(dtype);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeFileSync(join(out, 'model.safetensors'), safetensors);
  const mb = (safetensors.byteLength / 2 ** 20).toFixed(0);
  console.log(
    `wrote ${out} (${mb} MiB, ${dtype}) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}
