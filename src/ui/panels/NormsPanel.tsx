import { useEffect, useMemo, useState } from 'react';
import type { StackTrace } from '../../model/trace';
import { useLab } from '../context';
import { selectRunError, selectRunId } from '../store/selectors';
import { CATEGORICAL } from '../lib/colour';
import { mean, residualAcrossDepth, stackNorms, type TrainingCurve } from '../lib/norms';
import { sharedYDomain } from '../lib/chartData';
import { LineChart, type Series } from '../components/LineChart';
import { Counterfactual } from '../components/Counterfactual';
import type { RunState } from '../store/types';

function mainStack(trace: RunState['trace'] | null | undefined): StackTrace | undefined {
  return trace?.decoder ?? trace?.encoder;
}

/** Mean over tokens of each LayerNorm's input and output standard deviation, in forward order. */
function normDepthSeries(stack: StackTrace): Series[] {
  const norms = stackNorms(stack);
  return [
    { name: 'std in', colour: CATEGORICAL[0], points: norms.map((n, i) => [i, mean(n.inputStd)]) },
    {
      name: 'std out',
      colour: CATEGORICAL[1],
      points: norms.map((n, i) => [i, mean(n.outputStd)]),
    },
    {
      name: '|mean| in',
      colour: CATEGORICAL[2],
      dashed: true,
      points: norms.map((n, i) => [i, mean(n.inputMean.map(Math.abs))]),
    },
  ];
}

function residualSeries(stack: StackTrace): Series[] {
  const points = residualAcrossDepth(stack);
  return [
    { name: 'mean ‖x‖', colour: CATEGORICAL[0], points: points.map((p, i) => [i, mean(p.norms)]) },
    {
      name: 'max ‖x‖',
      colour: CATEGORICAL[5],
      dashed: true,
      points: points.map((p, i) => [i, Math.max(...p.norms)]),
    },
  ];
}

/** y domains shared by the two columns: the same quantity on the same scale. */
interface SharedDomains {
  residual?: [number, number];
  normDepth?: [number, number];
}

function NormDepthChart({ stack, yDomain }: { stack: StackTrace; yDomain?: [number, number] }) {
  return (
    <LineChart
      testId="norm-depth-chart"
      series={normDepthSeries(stack)}
      xLabel="LayerNorm"
      yLabel="mean over tokens"
      xTickLabels={stackNorms(stack).map((n) => n.name)}
      logY
      yDomain={yDomain}
    />
  );
}

function ResidualChart({ stack, yDomain }: { stack: StackTrace; yDomain?: [number, number] }) {
  return (
    <LineChart
      testId="residual-chart"
      series={residualSeries(stack)}
      xLabel="depth"
      yLabel="residual-stream norm"
      xTickLabels={residualAcrossDepth(stack).map((p) => p.label)}
      yDomain={yDomain}
    />
  );
}

/** Per-token input/output std of one LayerNorm: the output is pinned near 1 (times the gain). */
function TokenNormChart({ stack }: { stack: StackTrace }) {
  const norms = stackNorms(stack);
  const [index, setIndex] = useState(0);
  const n = norms[Math.min(index, norms.length - 1)];
  if (!n) return null;
  return (
    <div>
      <label>
        LayerNorm{' '}
        <select
          value={index}
          onChange={(e) => setIndex(Number(e.target.value))}
          data-testid="norm-select"
        >
          {norms.map((x, i) => (
            <option key={x.name} value={i}>
              {x.name}
            </option>
          ))}
        </select>
      </label>
      <LineChart
        series={[
          { name: 'std in', colour: CATEGORICAL[0], points: n.inputStd.map((v, t) => [t, v]) },
          { name: 'std out', colour: CATEGORICAL[1], points: n.outputStd.map((v, t) => [t, v]) },
          {
            name: 'mean in',
            colour: CATEGORICAL[2],
            dashed: true,
            points: n.inputMean.map((v, t) => [t, v]),
          },
          {
            name: 'mean out',
            colour: CATEGORICAL[3],
            dashed: true,
            points: n.outputMean.map((v, t) => [t, v]),
          },
        ]}
        xLabel="token"
        yLabel={`${n.name} statistics`}
      />
    </div>
  );
}

function lossSeries(
  name: string,
  curve: TrainingCurve | null | undefined,
  colour: string,
): Series[] {
  if (!curve) return [];
  const out: Series[] = [
    { name: `${name} train`, colour, points: curve.steps.map((s, i) => [s, curve.trainLoss[i]]) },
  ];
  if (curve.valLoss && curve.valSteps) {
    const val = curve.valLoss;
    out.push({
      name: `${name} val`,
      colour,
      dashed: true,
      points: curve.valSteps.map((s, i) => [s, val[i]]),
    });
  }
  return out;
}

function ModelColumn({
  title,
  id,
  stack,
  error,
  norm,
  domains,
}: {
  title: string;
  id: number | null | undefined;
  stack: StackTrace | undefined;
  error: RunState['error'] | undefined;
  norm?: string;
  domains: SharedDomains;
}) {
  return (
    <div className="compare-column" data-request-id={id ?? undefined}>
      <h3>
        {title} {norm && <span className="small">({norm}-norm)</span>}
      </h3>
      {stack ? (
        <>
          <ResidualChart stack={stack} yDomain={domains.residual} />
          <NormDepthChart stack={stack} yDomain={domains.normDepth} />
        </>
      ) : (
        <p className="hint">{error ? error.message : 'running…'}</p>
      )}
    </div>
  );
}

/** Pre-norm against post-norm on the same input: residual norms, LayerNorm statistics, losses. */
function NormCompare() {
  const models = useLab((s) => s.models);
  const modelName = useLab((s) => s.modelName);
  const info = useLab((s) => s.modelInfo);
  const runId = useLab(selectRunId);
  const stack = useLab((s) => mainStack(s.run?.trace));
  const error = useLab(selectRunError);
  const compare = useLab((s) => s.compare);
  const compareModel = useLab((s) => s.compareModel);
  const setCompareModel = useLab((s) => s.setCompareModel);
  const openCompare = useLab((s) => s.openCompare);
  const runCompare = useLab((s) => s.runCompare);
  const closeCompare = useLab((s) => s.closeCompare);
  const training = useLab((s) => s.training);

  useEffect(() => {
    if (info) openCompare(compareModel);
  }, [info, compareModel, openCompare]);
  useEffect(() => {
    if (runId !== null) runCompare();
  }, [runId, runCompare]);
  // The second model only lives while the comparison is on screen.
  useEffect(() => closeCompare, [closeCompare]);

  const other = mainStack(compare?.run?.trace);
  const domains = useMemo((): SharedDomains => {
    if (!stack || !other) return {};
    return {
      residual: sharedYDomain([residualSeries(stack), residualSeries(other)]),
      normDepth: sharedYDomain([normDepthSeries(stack), normDepthSeries(other)], true),
    };
  }, [stack, other]);
  const loss = [
    ...lossSeries(modelName || 'this', training[modelName], CATEGORICAL[0]),
    ...(compare?.name ? lossSeries(compare.name, training[compare.name], CATEGORICAL[5]) : []),
  ];
  return (
    <section className="norm-compare" data-testid="norm-compare">
      <h3>
        Compare with{' '}
        <select
          data-testid="compare-model"
          value={compareModel}
          onChange={(e) => setCompareModel(e.target.value)}
          aria-label="model to compare with"
        >
          <option value="">the other norm placement (auto)</option>
          {models
            .filter((m) => m.name !== modelName)
            .map((m) => (
              <option key={m.name} value={m.name}>
                {m.title || m.name}
              </option>
            ))}
        </select>
      </h3>
      {compare?.error && <p className="warning">{compare.error}</p>}
      <div className="side-by-side">
        <ModelColumn
          title={modelName || info?.name || 'this model'}
          id={runId}
          stack={stack}
          error={error}
          norm={info?.config.norm}
          domains={domains}
        />
        {compare?.name && (
          <ModelColumn
            title={compare.name}
            id={compare.run?.id}
            stack={other}
            error={compare.run?.error}
            norm={compare.info?.config.norm}
            domains={domains}
          />
        )}
      </div>
      <h3>Training loss</h3>
      {loss.length ? (
        <LineChart
          testId="loss-curves"
          series={loss}
          xLabel="step"
          yLabel="cross-entropy loss"
          width={520}
        />
      ) : (
        <p className="hint">
          No training.json for these models (an untrained model has no loss curve).
        </p>
      )}
    </section>
  );
}

export function NormsPanel() {
  const runId = useLab(selectRunId);
  const stack = useLab((s) => mainStack(s.run?.trace));
  return (
    <section className="norms-panel" data-testid="norms-panel" data-request-id={runId ?? undefined}>
      <p className="caption">
        LayerNorm rescales every token to mean 0, std 1 (then a learned gain and bias). Pre-norm
        puts it before each sub-layer and lets the residual stream grow with depth; post-norm
        normalises the stream itself after each addition. <Counterfactual />
      </p>
      {stack ? (
        <TokenNormChart stack={stack} />
      ) : (
        <p className="hint">Run the model to see its norms.</p>
      )}
      <NormCompare />
    </section>
  );
}
