/** Which Hugging Face model classes the lab runs, and the check that names them when it does not. */
import { ConfigError, type Json } from '../config';

/** `model_type` → the classes of that type whose weights the lab reads (with their heads). */
export const SUPPORTED_CLASSES: Record<string, readonly string[]> = {
  // GPT2Model's file is the same without a head: GPT-2's head is the token embedding.
  gpt2: ['GPT2LMHeadModel', 'GPT2Model'],
  marian: ['MarianMTModel'],
  llama: ['LlamaForCausalLM'],
  qwen2: ['Qwen2ForCausalLM'],
  gpt_neo: ['GPTNeoForCausalLM'],
  bert: ['BertForMaskedLM', 'BertForPreTraining'],
  distilbert: ['DistilBertForMaskedLM'],
};

/** "GPT2LMHeadModel, MarianMTModel, …" for messages. */
export function supportedList(): string {
  return Object.values(SUPPORTED_CLASSES)
    .map((classes) => classes[0])
    .join(', ');
}

/**
 * Refuses a config whose `architectures` names none of the classes of its type that the lab
 * runs (a classifier head, a bare encoder without the LM head): its file lacks the head the lab
 * needs, or holds one the lab would ignore. A config without `architectures` is let through.
 */
export function requireArchitecture(c: Json, modelType: string): void {
  const listed = c.architectures;
  if (!Array.isArray(listed) || listed.length === 0) return;
  const allowed = SUPPORTED_CLASSES[modelType] ?? [];
  if (listed.some((a) => allowed.includes(a as string))) return;
  throw new ConfigError(
    `unsupported architecture ${listed.map((a) => JSON.stringify(a)).join(', ')}: of ${modelType} models ` +
      `Attention Lab runs ${allowed.join(' and ')} (supported: ${supportedList()})`,
    'unsupported-model',
  );
}
