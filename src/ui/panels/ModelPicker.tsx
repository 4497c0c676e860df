import { useLab } from '../context';

/** Shipped models, a folder of your own files, and load progress per stage. */
export function ModelPicker() {
  const models = useLab((s) => s.models);
  const modelName = useLab((s) => s.modelName);
  const loadModel = useLab((s) => s.loadModel);
  const loadFiles = useLab((s) => s.loadFiles);
  const loading = useLab((s) => s.loadId !== null);
  const progress = useLab((s) => s.progress);
  const info = useLab((s) => s.modelInfo);
  const current = models.find((m) => m.name === modelName);
  return (
    <div className="model-picker">
      <label>
        Model{' '}
        <select
          data-testid="model-picker"
          value={modelName}
          onChange={(e) => loadModel(e.target.value)}
          disabled={models.length === 0}
        >
          {modelName === '' && <option value="">{info ? `${info.name} (files)` : '—'}</option>}
          {models.map((m) => (
            <option key={m.name} value={m.name} title={m.description}>
              {m.title || m.name}
            </option>
          ))}
        </select>
      </label>
      <label
        className="file-button"
        title="config.json, model.safetensors and optionally tokenizer.json"
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
          {info.config.dModel}, {(info.parameterCount / 1e6).toFixed(2)} M params
        </span>
      )}
      {loading && (
        <span className="load-progress" data-testid="load-progress">
          {Object.keys(progress).length === 0 && 'loading…'}
          {Object.entries(progress).map(([stage, p]) => (
            <label key={stage}>
              {stage} <progress value={p.total ? p.loaded : undefined} max={p.total || undefined} />
            </label>
          ))}
        </span>
      )}
    </div>
  );
}
