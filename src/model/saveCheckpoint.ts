/**
 * Writing the project's own format (docs/model-format.md): `config.json` and a safetensors file
 * under GPT-2's tensor names, whatever the model was built from. Training and the random-model
 * scripts save with it; the app only reads.
 */
import * as tf from '@tensorflow/tfjs-core';
import { stacksOf, type ModelConfig } from './config';
import { weightTensor } from './halfWeights';
import type { Model } from './model';
import type { LayerNormParams, Linear } from './params';
import { writeSafetensors } from './safetensors';

/** `config.json` of the project's own format for a config. */
export function configToJson(cfg: ModelConfig): Record<string, unknown> {
  return {
    model_type: 'attention-lab',
    architecture: cfg.architecture,
    vocab_size: cfg.vocabSize,
    n_embd: cfg.dModel,
    n_head: cfg.nHeads,
    n_layer: cfg.nLayers,
    ...(cfg.architecture === 'encoder-decoder' ? { n_encoder_layer: cfg.nEncoderLayers } : {}),
    n_inner: cfg.dFF,
    n_positions: cfg.contextLength,
    norm_placement: cfg.norm,
    position_embedding: cfg.positions,
    activation_function: cfg.activation,
    layer_norm_epsilon: cfg.layerNormEps,
    scale_embedding: cfg.scaleEmbedding,
    final_layer_norm: cfg.finalNorm,
    attention_bias: cfg.attentionBias,
    attention_only: cfg.attentionOnly,
    tie_word_embeddings: cfg.tiedEmbeddings,
    pad_token_id: cfg.padTokenId,
    eos_token_id: cfg.eosTokenId,
    decoder_start_token_id: cfg.decoderStartTokenId,
  };
}

type HostTensor = { shape: number[]; data: Float32Array };

/** All parameters under the project's (GPT-2) names, read back to the host. */
function exportTensors(model: Model): Record<string, HostTensor> {
  const cfg = model.config;
  const p = model.params;
  const out: Record<string, HostTensor> = {};
  const host = (t: tf.Tensor): HostTensor => ({
    shape: t.shape.slice(),
    data: t.dataSync() as Float32Array,
  });
  // Read back outside tidy: tidy walks what its function returns, and a 38M-element array is too much.
  const hostOf = (make: () => tf.Tensor): HostTensor => {
    const t = tf.tidy(make);
    const h = host(t);
    t.dispose();
    return h;
  };
  const concatCols = (ts: tf.Tensor[]) => hostOf(() => tf.concat(ts, ts[0].rank - 1));
  const putLinear = (name: string, l: Linear) => {
    const w = l.w;
    out[`${name}.weight`] = 'codes' in w ? hostOf(() => weightTensor(w)) : host(w);
    if (l.b) out[`${name}.bias`] = host(l.b);
  };
  const putFused = (name: string, ls: Linear[]) => {
    out[`${name}.weight`] = hostOf(() =>
      tf.concat(
        ls.map((l) => weightTensor(l.w)),
        1,
      ),
    );
    if (ls[0].b) out[`${name}.bias`] = concatCols(ls.map((l) => l.b!));
  };
  const putNorm = (name: string, n: LayerNormParams) => {
    out[`${name}.weight`] = host(n.gamma);
    if (n.beta) out[`${name}.bias`] = host(n.beta);
  };
  out['wte.weight'] = hostOf(() => tf.concat(p.tokenEmbedding.map(weightTensor), 0));
  if (p.positionEmbedding) out['wpe.weight'] = host(p.positionEmbedding);
  if (p.lmHead)
    out['lm_head.weight'] = hostOf(() => tf.transpose(tf.concat(p.lmHead!.map(weightTensor), 1)));
  for (const stack of stacksOf(cfg)) {
    const prefix = cfg.architecture === 'encoder-decoder' ? `${stack}.` : '';
    const sp = p[stack]!;
    sp.blocks.forEach((b, i) => {
      const h = `${prefix}h.${i}`;
      putNorm(`${h}.ln_1`, b.ln1);
      putFused(`${h}.attn.c_attn`, [b.attn.q, b.attn.k, b.attn.v]);
      putLinear(`${h}.attn.c_proj`, b.attn.o);
      if (b.cross && b.lnCross) {
        putNorm(`${h}.ln_cross_attn`, b.lnCross);
        putLinear(`${h}.crossattention.q_attn`, b.cross.q);
        putFused(`${h}.crossattention.c_attn`, [b.cross.k, b.cross.v]);
        putLinear(`${h}.crossattention.c_proj`, b.cross.o);
      }
      if (b.mlp && b.ln2) {
        putNorm(`${h}.ln_2`, b.ln2);
        putLinear(`${h}.mlp.c_fc`, b.mlp.fc);
        putLinear(`${h}.mlp.c_proj`, b.mlp.proj);
      }
    });
    if (sp.finalNorm) putNorm(`${prefix}ln_f`, sp.finalNorm);
  }
  return out;
}

/** config.json object and model.safetensors bytes of the project's own format. */
export function saveCheckpoint(
  model: Model,
  dtype: 'F32' | 'F16' = 'F32',
): { config: Record<string, unknown>; safetensors: Uint8Array } {
  return {
    config: configToJson(model.config),
    safetensors: writeSafetensors(exportTensors(model), dtype, { format: 'attention-lab' }),
  };
}
