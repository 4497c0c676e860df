/** A small SVG line chart with d3 scales and axes (loss curves, norms across depth, cost). */
import { useEffect, useRef } from 'react';
import { axisBottom, axisLeft, extent, line, scaleLinear, scaleLog, select } from 'd3';
import { labelOverhangPx, labelStep, numberTickFormat } from '../lib/chartAxes';

export interface Series {
  name: string;
  points: [number, number][];
  colour: string;
  dashed?: boolean;
  /** Draw dots only (measurements). */
  dots?: boolean;
}

export interface LineChartProps {
  series: Series[];
  xLabel: string;
  yLabel: string;
  logY?: boolean;
  width?: number;
  height?: number;
  /** Tick labels for integer x positions (e.g. depth points). */
  xTickLabels?: string[];
  testId?: string;
}

const M = { top: 10, right: 12, bottom: 36, left: 52 };

export function LineChart(props: LineChartProps) {
  const { series, logY } = props;
  const width = props.width ?? 360;
  const height = props.height ?? 200;
  const labels = props.xTickLabels;
  // Room at both ends for the first and last labels, which are centred on their ticks.
  const left = Math.max(M.left, labels?.length ? labelOverhangPx(labels[0]) : 0);
  const right = Math.max(M.right, ...(labels ?? []).map(labelOverhangPx));
  const xAxis = useRef<SVGGElement>(null);
  const yAxis = useRef<SVGGElement>(null);
  const all = series
    .flatMap((s) => s.points)
    .filter(([, y]) => Number.isFinite(y) && (!logY || y > 0));
  const [x0, x1] = extent(all, (p) => p[0]) as [number, number];
  const [y0, y1] = extent(all, (p) => p[1]) as [number, number];
  const x = scaleLinear()
    .domain(all.length ? [x0, x1 === x0 ? x0 + 1 : x1] : [0, 1])
    .range([left, width - right]);
  const y = (
    logY
      ? scaleLog().domain(all.length ? [y0, y1 === y0 ? y0 * 10 : y1] : [1, 10])
      : scaleLinear().domain(all.length ? [Math.min(0, y0), y1 === y0 ? y0 + 1 : y1] : [0, 1])
  )
    .nice()
    .range([height - M.bottom, M.top]);

  useEffect(() => {
    const bottom = axisBottom(x).ticks(6);
    if (labels) {
      const every = labelStep(labels, Math.abs(x(1) - x(0)));
      bottom
        .tickValues(labels.map((_, i) => i).filter((i) => i % every === 0))
        .tickFormat((v) => labels[+v] ?? '');
    }
    select(xAxis.current!).call(bottom);
    select(yAxis.current!).call(
      axisLeft(y)
        .tickArguments([5])
        .tickFormat(numberTickFormat(y, 5, !!logY)),
    );
  });

  const path = line<[number, number]>()
    .defined(([, v]) => Number.isFinite(v) && (!logY || v > 0))
    .x(([u]) => x(u))
    .y(([, v]) => y(v));

  return (
    <figure className="line-chart" data-testid={props.testId}>
      <svg
        width={width}
        height={height}
        role="img"
        aria-label={`${props.yLabel} against ${props.xLabel}`}
      >
        <g ref={xAxis} transform={`translate(0,${height - M.bottom})`} />
        <g ref={yAxis} transform={`translate(${left},0)`} />
        <text
          className="axis-title"
          x={(left + width - right) / 2}
          y={height - 4}
          textAnchor="middle"
        >
          {props.xLabel}
        </text>
        <text
          className="axis-title"
          transform={`translate(12,${(height - M.bottom) / 2}) rotate(-90)`}
          textAnchor="middle"
        >
          {props.yLabel}
        </text>
        {series.map((s) =>
          s.dots ? (
            <g key={s.name} fill={s.colour}>
              {s.points.map(([u, v], i) => (
                <circle key={i} cx={x(u)} cy={y(v)} r={3.5}>
                  <title>{`${s.name}: ${u} → ${v.toPrecision(3)}`}</title>
                </circle>
              ))}
            </g>
          ) : (
            <path
              key={s.name}
              className="series"
              d={path(s.points) ?? ''}
              fill="none"
              stroke={s.colour}
              strokeWidth={1.8}
              strokeDasharray={s.dashed ? '5 3' : undefined}
            />
          ),
        )}
      </svg>
      <figcaption className="chart-key">
        {series.map((s) => (
          <span key={s.name}>
            <span className="key-swatch" style={{ background: s.colour }} /> {s.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
