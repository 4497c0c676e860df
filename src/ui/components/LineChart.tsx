/**
 * A small SVG line chart with d3 scales and axes (loss curves, norms across depth, cost). Hovering
 * it marks the nearest point and reads out its x and y.
 */
import { useEffect, useRef, useState } from 'react';
import { axisBottom, axisLeft, extent, line, scaleLinear, scaleLog, select } from 'd3';
import { labelOverhangPx, labelStep, numberTickFormat } from '../lib/chartAxes';
import { drawable, nearestPoint, yDomainOf, type Nearest } from '../lib/chartData';

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
  logX?: boolean;
  /** The y domain, when charts side by side must share one (chartData.ts `sharedYDomain`). */
  yDomain?: [number, number];
  width?: number;
  height?: number;
  /** Tick labels for integer x positions (e.g. depth points). */
  xTickLabels?: string[];
  testId?: string;
}

const M = { top: 10, right: 12, bottom: 36, left: 52 };

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(4));

export function LineChart(props: LineChartProps) {
  const { series, logY, logX } = props;
  const width = props.width ?? 360;
  const height = props.height ?? 200;
  const labels = props.xTickLabels;
  // Room at both ends for the first and last labels, which are centred on their ticks.
  const left = Math.max(M.left, labels?.length ? labelOverhangPx(labels[0]) : 0);
  const right = Math.max(M.right, ...(labels ?? []).map(labelOverhangPx));
  const xAxis = useRef<SVGGElement>(null);
  const yAxis = useRef<SVGGElement>(null);
  const [hover, setHover] = useState<Nearest | null>(null);
  const all = series.flatMap((s) => s.points).filter((p) => drawable(p, logX, logY));
  const [x0, x1] = extent(all, (p) => p[0]) as [number, number];
  const x = (logX ? scaleLog() : scaleLinear())
    .domain(all.length ? [x0, x1 !== x0 ? x1 : logX ? x0 * 2 : x0 + 1] : logX ? [1, 2] : [0, 1])
    .range([left, width - right]);
  const y = (logY ? scaleLog() : scaleLinear())
    .domain(props.yDomain ?? yDomainOf(series, logY, logX))
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
    if (logX) bottom.ticks(6, '~s');
    select(xAxis.current!).call(bottom);
    select(yAxis.current!).call(
      axisLeft(y)
        .tickArguments([5])
        .tickFormat(numberTickFormat(y, 5, !!logY)),
    );
  });

  const path = line<[number, number]>()
    .defined((p) => drawable(p, logX, logY))
    .x(([u]) => x(u))
    .y(([, v]) => y(v));

  const onPointerMove = (e: React.PointerEvent<SVGSVGElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    const [px, py] = [e.clientX - box.left, e.clientY - box.top];
    setHover(nearestPoint(series, x, y, px, py, logX, logY));
  };
  const xText = (v: number) => (labels ? (labels[v] ?? fmt(v)) : fmt(v));

  return (
    <figure className="line-chart" data-testid={props.testId} data-y-domain={y.domain().join(',')}>
      <svg
        width={width}
        height={height}
        role="img"
        aria-label={`${props.yLabel} against ${props.xLabel}`}
        onPointerMove={onPointerMove}
        onPointerLeave={() => setHover(null)}
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
        {hover && (
          <circle
            className="chart-hover-point"
            cx={x(hover.x)}
            cy={y(hover.y)}
            r={5}
            fill="none"
            stroke="currentColor"
          />
        )}
      </svg>
      <div
        className="chart-readout small"
        data-testid="chart-readout"
        role="status"
        data-series={hover?.series}
        data-x={hover?.x}
        data-y={hover?.y}
      >
        {hover
          ? `${hover.series}: ${props.xLabel} ${xText(hover.x)} → ${props.yLabel} ${fmt(hover.y)}`
          : '\u00a0'}
      </div>
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
