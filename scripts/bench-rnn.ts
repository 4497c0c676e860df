/**
 * The RNN-vs-attention measurement (src/model/rnnVsAttention.ts) in Node on wasm, printed as
 * the table docs/viz-tools.md quotes. Run it on a quiet machine (`uptime`): the load average is
 * printed with the table.
 *
 *   npx tsx scripts/bench-rnn.ts [--width 128] [--heads 4] [--max-n 4096] [--bound-ms 2000]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { formatBytes } from '../src/model/formatBytes';
import { measureRnnVsAttention } from '../src/model/rnnVsAttention';
import { useFastestNodeBackend } from './lib/node-model';

const { values } = parseArgs({
  options: {
    width: { type: 'string', default: '128' },
    heads: { type: 'string', default: '4' },
    'max-n': { type: 'string', default: '4096' },
    'bound-ms': { type: 'string', default: '2000' },
  },
});
const backend = await useFastestNodeBackend();
const load = () => loadavg()[0].toFixed(2);
console.log(
  `${backend}, width ${values.width}, ${values.heads} heads, load average ${load()} at the start`,
);
console.log('| n | RNN (ms) | attention (ms) | path RNN / attention | attention matrix |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
const stop = await measureRnnVsAttention({
  width: Number(values.width),
  heads: Number(values.heads),
  maxN: Number(values['max-n']),
  timeBoundMs: Number(values['bound-ms']),
  onRow: (r) =>
    console.log(
      `| ${r.n} | ${r.rnnMs.toFixed(2)} | ${r.attentionMs.toFixed(2)} | ${r.rnnPath} / ${r.attentionPath} | ${formatBytes(r.attentionMatrixBytes)} |`,
    ),
});
console.log(`stop: ${stop ?? 'every length ran'}; load average ${load()} at the end`);
