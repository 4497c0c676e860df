import { useState } from 'react';
import { useLab } from '../context';
import { memoryText, stageText } from '../lib/loading';
import { formatBytes } from '../../model/formatBytes';

/**
 * Shipped models, a Hugging Face id or URL, files of your own (picked or dropped here), load
 * progress per stage, what the loaded model takes in memory, and the model cache.
 */
export function ModelPicker() {
  const models = useLab((s) => s.models);
  const modelName = useLab((s) => s.modelName);
  const loadModel = useLab((s) => s.loadModel);
  const loadFiles = useLab((s) => s.loadFiles);
  const loadFrom = useLab((s) => s.loadFrom);
  const loading = useLab((s) => s.loadId !== null);
  const progress = useLab((s) => s.progress);
  const info = useLab((s) => s.modelInfo);
  const cacheUsage = useLab((s) => s.cacheUsage);
  const clearModelCache = useLab((s) => s.clearModelCache);
  const cancelLoad = useLab((s) => s.cancelLoad);
  const [address, setAddress] = useState('');
  const current = models.find((m) => m.name === modelName);
  return (
    <div
      className="model-picker"
      data-testid="model-drop"
      onDragOver={(e) => e.preventDefault()}
      onDrop={(e) => {
        e.preventDefault();
        if (e.dataTransfer.files.length) loadFiles(Array.from(e.dataTransfer.files));
      }}
    >
      <label>
        Model{' '}
        <select
          data-testid="model-picker"
          value={modelName}
          onChange={(e) => loadModel(e.target.value)}
          disabled={models.length === 0}
        >
          {modelName === '' && <option value="">{info ? info.name : '—'}</option>}
          {models.map((m) => (
            <option key={m.name} value={m.name} title={m.description}>
              {m.title || m.name}
            </option>
          ))}
        </select>
      </label>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (address.trim()) loadFrom(address);
        }}
      >
        <input
          data-testid="model-address"
          size={28}
          placeholder="gpt2, roneneldan/TinyStories-33M, Helsinki-NLP/opus-mt-en-it or a URL"
          title="A Hugging Face model id, or the URL of a folder with config.json and model.safetensors (or its shards, or pytorch_model.bin); see docs/models.md"
          value={address}
          onChange={(e) => setAddress(e.target.value)}
        />{' '}
        <button type="submit" data-testid="model-address-load">
          load
        </button>
      </form>
      <label
        className="file-button"
        title="config.json, model.safetensors and the tokenizer's files (tokenizer.json, or Marian's source.spm, target.spm and vocab.json); or drop them here"
      >
        open files…
        <input
          type="file"
          multiple
          data-testid="model-files"
          onChange={(e) => e.target.files?.length && loadFiles(Array.from(e.target.files))}
        />
      </label>
      {info && !loading && (
        <span className="model-facts" data-testid="model-facts" title={current?.description}>
          {info.config.architecture}, {info.config.norm}-norm, {info.config.nLayers} layer
          {info.config.nLayers === 1 ? '' : 's'} × {info.config.nHeads} heads, d=
          {info.config.dModel}, {(info.parameterCount / 1e6).toFixed(2)} M params;{' '}
          <span data-testid="model-memory">{memoryText(info)}</span>
        </span>
      )}
      {loading && (
        <span className="load-progress" data-testid="load-progress">
          {Object.keys(progress).length === 0 && 'loading…'}
          {Object.entries(progress).map(([stage, p]) => (
            <label key={stage} data-stage={stage}>
              {stage} <progress value={p.total ? p.loaded : undefined} max={p.total || undefined} />{' '}
              {stageText(p)}
            </label>
          ))}{' '}
          <button
            type="button"
            data-testid="cancel-load"
            title="Stop this load; the model on screen stays"
            onClick={cancelLoad}
          >
            cancel
          </button>
        </span>
      )}
      {cacheUsage && (
        <button
          type="button"
          data-testid="clear-model-cache"
          disabled={cacheUsage.files === 0}
          title="Models loaded from the Hub or a URL are kept in the browser's Cache Storage so that the next visit needs no download"
          onClick={clearModelCache}
        >
          clear cached models ({formatBytes(cacheUsage.bytes)})
        </button>
      )}
    </div>
  );
}
