// Number formats of measures (`Measure.number_format`, e.g. `#,##0.00`, `$#,##0`, `0.0%`):
// the engine sends a measure's exact number and its shortest text, and the client shows it
// as the app's author asked, in the viewer's locale.
import type { ChartData } from "./api";

/** A parsed number format: literal text around a number with grouping and decimals. */
interface NumberFormat {
  prefix: string;
  suffix: string;
  percent: boolean;
  grouping: boolean;
  minDecimals: number;
  maxDecimals: number;
}

const cache = new Map<string, Intl.NumberFormat>();

/**
 * parse reads a pattern: the number part is the run of `#`, `0`, `,` and `.`; what is before
 * it and after it is literal (a `%` among it multiplies by 100). Without a pattern: grouping
 * and at most two decimals, so a sum never shows floating-point noise like 0.30000000000000004.
 */
function parse(pattern: string | undefined): NumberFormat {
  const m = /^([^#0,.]*)([#0,.]+)(.*)$/.exec(pattern ?? "");
  if (!m) return { prefix: "", suffix: "", percent: false, grouping: true, minDecimals: 0, maxDecimals: 2 };
  const [, prefix, number, suffix] = m;
  const dot = number.indexOf(".");
  const decimals = dot < 0 ? "" : number.slice(dot + 1);
  return {
    prefix,
    suffix,
    percent: (prefix + suffix).includes("%"),
    grouping: number.includes(","),
    minDecimals: (decimals.match(/0/g) ?? []).length,
    maxDecimals: decimals.replace(/,/g, "").length,
  };
}

/** formatNumber shows n as pattern says. */
export function formatNumber(n: number, pattern?: string): string {
  const f = parse(pattern);
  const key = `${f.grouping}|${f.minDecimals}|${f.maxDecimals}`;
  let nf = cache.get(key);
  if (!nf) {
    nf = new Intl.NumberFormat(undefined, {
      useGrouping: f.grouping,
      minimumFractionDigits: f.minDecimals,
      maximumFractionDigits: Math.max(f.minDecimals, f.maxDecimals),
    });
    cache.set(key, nf);
  }
  return f.prefix + nf.format(f.percent ? n * 100 : n) + f.suffix;
}

/** formatChartData rewrites the text of every measure cell (rows and totals) in place. */
export function formatChartData(data: ChartData): ChartData {
  const cols = data.columns ?? [];
  const rows = [...(data.rows ?? []), ...(data.totals ? [data.totals] : [])];
  for (const r of rows) {
    (r.cells ?? []).forEach((cell, i) => {
      const col = cols[i];
      if (col?.measure && !cell.null && typeof cell.number === "number") {
        cell.text = formatNumber(cell.number, col.numberFormat);
      }
    });
  }
  return data;
}
