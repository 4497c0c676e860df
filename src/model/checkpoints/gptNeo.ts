/**
 * GPTNeoForCausalLM tensor names (modeling_gpt_neo.py): `transformer.{wte, wpe, ln_f}`,
 * `transformer.h.{i}.{ln_1, attn.attention.{q,k,v}_proj (no bias), attn.attention.out_proj,
 * ln_2, mlp.c_fc, mlp.c_proj}` — nn.Linear `[out, in]`, unlike GPT-2's Conv1D — and `lm_head`
 * when untied. Read with the prefixes `transformer.` and none.
 */
import type { ModelConfig } from '../config';
import type { TensorReader } from '../checkpoint';
import type { BlockParams, ModelParams } from '../params';
import { torchLayerNorm, torchLinear, untiedHead } from './torchLinear';

export const GPT_NEO_PREFIXES = ['transformer.', ''];

export function gptNeoParams(r: TensorReader, cfg: ModelConfig): ModelParams {
  const d = cfg.dModel;
  const blocks: BlockParams[] = [];
  for (let i = 0; i < cfg.nLayers; i++) {
    const h = `h.${i}`;
    const a = `${h}.attn.attention`;
    blocks.push({
      ln1: torchLayerNorm(r, `${h}.ln_1`, d),
      attn: {
        q: torchLinear(r, `${a}.q_proj`, d, d, false),
        k: torchLinear(r, `${a}.k_proj`, d, d, false),
        v: torchLinear(r, `${a}.v_proj`, d, d, false),
        o: torchLinear(r, `${a}.out_proj`, d, d, true),
      },
      ln2: torchLayerNorm(r, `${h}.ln_2`, d),
      mlp: {
        fc: torchLinear(r, `${h}.mlp.c_fc`, d, cfg.dFF, true),
        proj: torchLinear(r, `${h}.mlp.c_proj`, cfg.dFF, d, true),
      },
    });
  }
  return {
    tokenEmbedding: r.rowChunks('wte.weight', cfg.vocabSize, d),
    positionEmbedding: r.tensor2d('wpe.weight', cfg.contextLength, d),
    decoder: { blocks, finalNorm: torchLayerNorm(r, 'ln_f', d) },
    ...(cfg.tiedEmbeddings ? {} : { lmHead: untiedHead(r, 'lm_head.weight', cfg.vocabSize, d) }),
  };
}
