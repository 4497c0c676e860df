/** What the model picker says about a load in progress and about the model it loaded. */
import { formatBytes } from '../../model/formatBytes';
import type { ModelInfo } from '../../workers/protocol';
import type { LoadStage } from '../store/types';

/** `12.3 MB / 548.1 MB · 35.2 MB/s` (the rate once a stage has run for a moment). */
export function stageText(stage: LoadStage): string {
  const amount = stage.total
    ? `${formatBytes(stage.loaded)} / ${formatBytes(stage.total)}`
    : formatBytes(stage.loaded);
  const seconds = (stage.at - stage.startedAt) / 1000;
  return seconds >= 0.05 ? `${amount} · ${(stage.loaded / 1e6 / seconds).toFixed(1)} MB/s` : amount;
}

/** `weights 497.8 MB (float32) · tf memory 497.8 MB, GPU 498.3 MB · downloaded 248.9 MB in 3.1 s`. */
export function memoryText(info: ModelInfo): string {
  const gpu = info.memory.gpuBytes === null ? '' : `, GPU ${formatBytes(info.memory.gpuBytes)}`;
  const how = { network: 'downloaded', cache: 'read from cache', file: 'read' }[
    info.weightsFile.from
  ];
  const parts = [
    `weights ${formatBytes(info.weightBytes)} (${info.halfWeights > 0 ? `float32, ${info.halfWeights} matrices in 16 bits` : 'float32'})`,
    `tf memory ${formatBytes(info.memory.tensorBytes)}${gpu}`,
    `${how} ${formatBytes(info.weightsFile.bytes)} in ${(info.loadMs / 1000).toFixed(1)} s`,
  ];
  return parts.join(' · ');
}
