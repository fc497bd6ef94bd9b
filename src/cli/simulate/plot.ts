/**
 * `halfopen simulate … --plot out.svg`: the curves as an SVG file, drawn
 * with vega-lite (compiled to a vega spec) and rendered by vega's headless
 * view (`toSVG()`): no browser, no canvas, no network (the data is inline).
 * Loaded only when --plot is given.
 *
 * vega-lite 5 and vega 5: vega-lite 6 needs Node 22.
 */
import { writeFileSync } from "node:fs";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { ErrorCodes, HalfOpenError } from "../../errors.js";

export interface LineChart {
  title: string;
  subtitle?: string;
  /** log: a log axis (values above 0); symlog: one that also takes 0. */
  x: { label: string; scale?: "log" | "symlog" };
  y: { label: string; scale?: "log" | "symlog" };
  /** One line per series (a policy). */
  series: { name: string; points: { x: number; y: number }[] }[];
  /** Draw steps (counts that jump) instead of straight segments. */
  step?: boolean;
}

/** The vega-lite spec of a chart (exported for tests). */
export function lineChartSpec(chart: LineChart): TopLevelSpec {
  const values = chart.series.flatMap((s) => s.points.map((p) => ({ x: p.x, y: p.y, policy: s.name })));
  const scale = (type?: "log" | "symlog") => (type ? { type } : { zero: true });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: chart.subtitle ? { text: chart.title, subtitle: chart.subtitle } : chart.title,
    width: 560,
    height: 300,
    background: "white",
    data: { values },
    mark: { type: "line", interpolate: chart.step ? "step-after" : "linear", strokeWidth: 2 },
    encoding: {
      x: { field: "x", type: "quantitative", title: chart.x.label, scale: scale(chart.x.scale) },
      y: { field: "y", type: "quantitative", title: chart.y.label, scale: scale(chart.y.scale) },
      color: { field: "policy", type: "nominal", title: "policy", sort: chart.series.map((s) => s.name) },
      strokeDash: { field: "policy", type: "nominal", legend: null, sort: chart.series.map((s) => s.name) },
    },
    config: { font: "sans-serif" },
  };
}

export async function renderSvg(chart: LineChart): Promise<string> {
  const view = new vega.View(vega.parse(compile(lineChartSpec(chart)).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Render `chart` to `path`; a file that cannot be written is a usage error, not a stack trace. */
export async function writePlot(path: string, chart: LineChart): Promise<void> {
  const svg = await renderSvg(chart);
  try {
    writeFileSync(path, svg);
  } catch (e) {
    throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot write the plot to "${path}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** At most `max` points of a curve, always keeping the first and the last. */
export function thin<T>(points: readonly T[], max = 300): T[] {
  if (points.length <= max) return [...points];
  const every = Math.ceil(points.length / max);
  return points.filter((_, i) => i % every === 0 || i === points.length - 1);
}
