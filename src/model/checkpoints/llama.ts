/**
 * LlamaForCausalLM / Qwen2ForCausalLM tensor names (modeling_llama.py, modeling_qwen2.py):
 * `model.embed_tokens`, `model.layers.{i}.{input_layernorm, self_attn.{q,k,v,o}_proj,
 * post_attention_layernorm, mlp.{gate,up,down}_proj}`, `model.norm`, `lm_head` (absent when tied).
 * Read with the prefixes `model.` and none.
 */
import { headDim, kvHeadCount, type ModelConfig } from '../config';
import type { TensorReader } from '../checkpoint';
import type { BlockParams, ModelParams } from '../params';
import { rmsNormWeight, torchLinear, untiedHead } from './torchLinear';

export const LLAMA_PREFIXES = ['model.', ''];

export function llamaParams(r: TensorReader, cfg: ModelConfig): ModelParams {
  const d = cfg.dModel;
  const inner = cfg.nHeads * headDim(cfg);
  const kv = kvHeadCount(cfg) * headDim(cfg);
  // Qwen2: biases on q, k, v only; Llama with attention_bias: on all four.
  const qkvBias = cfg.attentionBias;
  const oBias = cfg.attentionBias && cfg.family === 'llama';
  const blocks: BlockParams[] = [];
  for (let i = 0; i < cfg.nLayers; i++) {
    const l = `layers.${i}`;
    blocks.push({
      ln1: rmsNormWeight(r, `${l}.input_layernorm`, d),
      attn: {
        q: torchLinear(r, `${l}.self_attn.q_proj`, d, inner, qkvBias),
        k: torchLinear(r, `${l}.self_attn.k_proj`, d, kv, qkvBias),
        v: torchLinear(r, `${l}.self_attn.v_proj`, d, kv, qkvBias),
        o: torchLinear(r, `${l}.self_attn.o_proj`, inner, d, oBias),
      },
      ln2: rmsNormWeight(r, `${l}.post_attention_layernorm`, d),
      mlp: {
        gate: torchLinear(r, `${l}.mlp.gate_proj`, d, cfg.dFF, false),
        fc: torchLinear(r, `${l}.mlp.up_proj`, d, cfg.dFF, false),
        proj: torchLinear(r, `${l}.mlp.down_proj`, cfg.dFF, d, false),
      },
    });
  }
  return {
    tokenEmbedding: r.rowChunks('embed_tokens.weight', cfg.vocabSize, d),
    decoder: { blocks, finalNorm: rmsNormWeight(r, 'norm', d) },
    ...(cfg.tiedEmbeddings ? {} : { lmHead: untiedHead(r, 'lm_head.weight', cfg.vocabSize, d) }),
  };
}
