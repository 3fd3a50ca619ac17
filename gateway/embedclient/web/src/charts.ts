// ECharts views: bar, line and pie charts from chart data, and where a category sits on
// screen. Only the parts of ECharts the client draws with are bundled.
import * as echarts from "echarts/core";
import { BarChart, LineChart, PieChart } from "echarts/charts";
import { GridComponent, LegendPlainComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";
import type { ChartData } from "./api";
import type { ResolvedTheme } from "./theme";

echarts.use([BarChart, LineChart, PieChart, GridComponent, LegendPlainComponent, TooltipComponent, CanvasRenderer]);

/** The kinds ECharts draws. */
export type PlotKind = "bar" | "line" | "pie";

/** A data point: its number for drawing, its server-formatted text for reading. */
interface Point {
  value: number | null;
  text: string;
}

/** Plot is chart data reshaped for ECharts: categories and a series of points per name. */
export interface Plot {
  categories: string[];
  series: { name: string; points: Point[] }[];
}

/** Below this width a pie's labels go inside its slices. */
const SMALL_PX = 420;

const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

/**
 * Reshapes chart data: the first dimension's values are the categories; with one dimension
 * there is a series per measure, with two a series per value of the second dimension (of
 * the first measure).
 */
export function toPlot(data: ChartData, dimensions: number): Plot {
  const cols = data.columns ?? [];
  const rows = data.rows ?? [];
  const cat = (c: { text?: string; null?: boolean } | undefined) => (c?.null ? "" : c?.text ?? "");
  const point = (c: { text?: string; number?: number; null?: boolean } | undefined): Point => ({
    value: c && !c.null && typeof c.number === "number" ? c.number : null,
    text: c?.text ?? "",
  });
  const categories: string[] = [];
  const index = new Map<string, number>();
  for (const r of rows) {
    const k = cat(r.cells?.[0]);
    if (!index.has(k)) {
      index.set(k, categories.length);
      categories.push(k);
    }
  }
  if (dimensions >= 2) {
    const byName = new Map<string, Point[]>();
    for (const r of rows) {
      const name = cat(r.cells?.[1]);
      let pts = byName.get(name);
      if (!pts) {
        pts = categories.map(() => ({ value: null, text: "" }));
        byName.set(name, pts);
      }
      pts[index.get(cat(r.cells?.[0])) ?? 0] = point(r.cells?.[2]);
    }
    return { categories, series: [...byName].map(([name, points]) => ({ name, points })) };
  }
  const measures = cols.slice(Math.max(0, dimensions)).map((c, i) => ({ name: c.label ?? `Measure ${i + 1}`, col: dimensions + i }));
  return {
    categories,
    series: measures.map((m) => {
      const points: Point[] = categories.map(() => ({ value: null, text: "" }));
      for (const r of rows) points[index.get(cat(r.cells?.[0])) ?? 0] = point(r.cells?.[m.col]);
      return { name: m.name, points };
    }),
  };
}

/** PlotView owns one ECharts instance. */
export class PlotView {
  private readonly chart: echarts.ECharts;
  private plot: Plot = { categories: [], series: [] };
  private theme: ResolvedTheme | null = null;
  /** Whether the chart was last drawn for a small container (pie labels go inside). */
  private small = false;

  constructor(
    private readonly container: HTMLElement,
    private readonly kind: PlotKind,
    onCategoryClick: (category: string) => void,
  ) {
    this.chart = echarts.init(container, undefined, { renderer: "canvas" });
    this.chart.on("click", (p: { name?: string }) => {
      if (p && typeof p.name === "string" && p.name !== "") onCategoryClick(p.name);
    });
  }

  /** Draws the plot in the theme's colours. */
  render(plot: Plot, theme: ResolvedTheme): void {
    this.plot = plot;
    this.theme = theme;
    this.small = this.container.clientWidth < SMALL_PX;
    this.chart.setOption(this.kind === "pie" ? pieOption(plot, theme, this.small) : cartesianOption(this.kind, plot, theme), { notMerge: true });
  }

  /** Fits the chart to its container. */
  resize(): void {
    if (this.container.clientWidth <= 0 || this.container.clientHeight <= 0) return;
    if (this.kind === "pie" && this.theme && (this.container.clientWidth < SMALL_PX) !== this.small) this.render(this.plot, this.theme);
    this.chart.resize();
  }

  /** Frees the instance. */
  dispose(): void {
    this.chart.dispose();
  }

  /** The viewport coordinates of a category's bar, point or slice centre, or null. */
  point(category: string): { x: number; y: number } | null {
    const i = this.plot.categories.indexOf(category);
    if (i < 0) return null;
    const s = this.plot.series.findIndex((x) => x.points[i]?.value !== null);
    if (s < 0) return null;
    let local: number[] | null = null;
    // getItemLayout is what ECharts itself hit-tests with; convertToPixel covers the rest.
    const model = (this.chart as unknown as { getModel(): { getSeriesByIndex(i: number): { getData(): { getItemLayout(i: number): Record<string, number> | null } } | undefined } }).getModel();
    const layout = model.getSeriesByIndex(s)?.getData().getItemLayout(i);
    if (this.kind === "pie" && layout) {
      const mid = (layout.startAngle + layout.endAngle) / 2;
      const r = ((layout.r0 ?? 0) + layout.r) / 2;
      local = [layout.cx + r * Math.cos(mid), layout.cy + r * Math.sin(mid)];
    } else if (this.kind === "bar" && layout && typeof layout.width === "number") {
      local = [layout.x + layout.width / 2, layout.y + layout.height / 2];
    } else if (this.kind !== "pie") {
      const v = this.plot.series[s].points[i].value;
      const px = this.chart.convertToPixel({ seriesIndex: s }, [i, v ?? 0]);
      local = Array.isArray(px) ? px : null;
    }
    if (!local || !isFinite(local[0]) || !isFinite(local[1])) return null;
    const dom = this.chart.getDom();
    const canvas = dom.querySelector("canvas") ?? dom;
    const rect = canvas.getBoundingClientRect();
    return { x: rect.left + local[0], y: rect.top + local[1] };
  }
}

function tooltipBase(theme: ResolvedTheme) {
  return {
    backgroundColor: theme.surface,
    borderColor: theme.border,
    textStyle: { color: theme.text, fontFamily: theme.font, fontSize: 12 },
    extraCssText: "box-shadow:0 4px 16px rgba(16,24,40,.12);border-radius:8px;",
    confine: true,
  };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function cartesianOption(kind: "bar" | "line", plot: Plot, theme: ResolvedTheme): echarts.EChartsCoreOption {
  const many = plot.series.length > 1;
  return {
    color: theme.palette,
    textStyle: { fontFamily: theme.font, color: theme.text },
    animationDuration: 300,
    grid: { left: 8, right: 12, top: many ? 34 : 12, bottom: 4, containLabel: true },
    legend: many ? { top: 0, textStyle: { color: theme.muted }, icon: "roundRect", itemWidth: 12, itemHeight: 8 } : { show: false },
    tooltip: {
      ...tooltipBase(theme),
      trigger: "axis",
      axisPointer: { type: kind === "bar" ? "shadow" : "line" },
      formatter: (ps: { dataIndex: number; seriesIndex: number; marker: string; seriesName: string }[]) => {
        if (!ps.length) return "";
        const i = ps[0].dataIndex;
        const head = `<div style="font-weight:600;margin-bottom:4px">${escapeHtml(plot.categories[i] || "–")}</div>`;
        return head + ps.map((p) => {
          const pt = plot.series[p.seriesIndex]?.points[i];
          return `<div>${p.marker}${escapeHtml(p.seriesName)}&nbsp;&nbsp;<b>${escapeHtml(pt?.text || "–")}</b></div>`;
        }).join("");
      },
    },
    xAxis: {
      type: "category",
      data: plot.categories,
      axisLine: { lineStyle: { color: theme.border } },
      axisTick: { show: false },
      axisLabel: { color: theme.muted, hideOverlap: true },
      boundaryGap: kind === "bar",
    },
    yAxis: {
      type: "value",
      axisLabel: { color: theme.muted, formatter: (v: number) => compact.format(v) },
      splitLine: { lineStyle: { color: theme.grid } },
    },
    series: plot.series.map((s) => ({
      type: kind,
      name: s.name,
      data: s.points.map((p) => p.value),
      ...(kind === "bar"
        ? { barMaxWidth: 48, itemStyle: { borderRadius: [4, 4, 0, 0] }, emphasis: { focus: "series" } }
        : { smooth: 0.2, smoothMonotone: "x", symbol: "circle", symbolSize: 7, showSymbol: plot.categories.length <= 40, lineStyle: { width: 2.5 }, areaStyle: many ? undefined : { opacity: 0.08 } }),
    })),
  };
}

function pieOption(plot: Plot, theme: ResolvedTheme, small: boolean): echarts.EChartsCoreOption {
  const s = plot.series[0];
  return {
    color: theme.palette,
    textStyle: { fontFamily: theme.font, color: theme.text },
    animationDuration: 300,
    tooltip: {
      ...tooltipBase(theme),
      trigger: "item",
      formatter: (p: { dataIndex: number; marker: string; percent: number }) =>
        `${p.marker}${escapeHtml(plot.categories[p.dataIndex] || "–")}&nbsp;&nbsp;<b>${escapeHtml(s?.points[p.dataIndex]?.text || "–")}</b> (${p.percent}%)`,
    },
    legend: { show: plot.categories.length <= 12, bottom: 0, textStyle: { color: theme.muted }, icon: "circle", itemWidth: 8, itemHeight: 8 },
    series: [{
      type: "pie",
      name: s?.name ?? "",
      radius: ["42%", "72%"],
      center: ["50%", "46%"],
      avoidLabelOverlap: true,
      itemStyle: { borderColor: theme.surface, borderWidth: 2, borderRadius: 4 },
      label: small
        ? { show: true, position: "inside", color: "#ffffff", fontSize: 11, fontWeight: 600, formatter: (p: { percent?: number }) => ((p.percent ?? 0) >= 6 ? `${Math.round(p.percent ?? 0)}%` : "") }
        : { show: plot.categories.length <= 8, color: theme.muted, formatter: "{d}%" },
      labelLine: { lineStyle: { color: theme.border } },
      data: plot.categories.map((c, i) => ({ name: c, value: s?.points[i]?.value ?? 0 })),
    }],
  };
}
