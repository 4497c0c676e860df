/**
 * A trace in the layout Hugging Face's `output_attentions` / `output_hidden_states` use, as in
 * the fixtures' expected.json: what `npm run trace` prints and what notebooks read.
 */
import type { ModelConfig } from './config';
import { toNested, type StackTrace, type Trace } from './trace';

/** [embeddings, block 0 … block L−2, last block after the final norm], as Hugging Face lists them. */
function hiddenStates(st: StackTrace): unknown[] {
  const out = [
    toNested(st.embedding.hidden),
    ...st.layers.slice(0, -1).map((l) => toNested(l.hidden)),
  ];
  out.push(toNested(st.output ? st.output.hidden : st.layers[st.layers.length - 1].hidden));
  return out;
}

function attentions(st: StackTrace, kind: 'self' | 'cross'): unknown[] {
  return st.layers.map((l) => toNested(l.attentions.find((a) => a.kind === kind)!.probs));
}

export function traceToReferenceJson(trace: Trace, cfg: ModelConfig): Record<string, unknown> {
  if (cfg.architecture === 'encoder-decoder') {
    const enc = trace.encoder!;
    const dec = trace.decoder!;
    return {
      input_ids: enc.embedding.inputIds,
      decoder_input_ids: dec.embedding.inputIds,
      encoder_attentions: attentions(enc, 'self'),
      decoder_attentions: attentions(dec, 'self'),
      cross_attentions: attentions(dec, 'cross'),
      encoder_hidden_states: hiddenStates(enc),
      decoder_hidden_states: hiddenStates(dec),
      ...(dec.output?.logits ? { logits: toNested(dec.output.logits) } : {}),
    };
  }
  const st = (trace.decoder ?? trace.encoder)!;
  const main = {
    input_ids: st.embedding.inputIds,
    ...(cfg.typeVocabSize
      ? { token_type_ids: st.embedding.tokenTypeIds ?? st.embedding.inputIds.map(() => 0) }
      : {}),
    attentions: attentions(st, 'self'),
    hidden_states: hiddenStates(st),
    ...(st.output?.logits ? { logits: toNested(st.output.logits) } : {}),
  };
  // The GPT-2 fixtures also hold every LayerNorm's input statistics; the other families' do not.
  if (cfg.family !== 'gpt2' && cfg.family !== 'attention-lab') return main;
  const lnStats: Record<string, { mean: number[]; var: number[] }> = {};
  for (const l of st.layers) {
    for (const n of l.norms)
      lnStats[n.name] = { mean: Array.from(n.inputMean), var: Array.from(n.inputVar) };
  }
  const fn = st.output?.finalNorm;
  if (fn) lnStats[fn.name] = { mean: Array.from(fn.inputMean), var: Array.from(fn.inputVar) };
  return { ...main, ln_input_stats: lnStats };
}
