// Theme resolution: defaults, then the tenant's theme, then the host page's setTheme, turned
// into CSS custom properties and an ECharts palette derived from the primary colour.
import type { Theme } from "./api";

/** ResolvedTheme is every colour the client draws with. */
export interface ResolvedTheme {
  primary: string;
  onPrimary: string;
  background: string;
  surface: string;
  text: string;
  muted: string;
  border: string;
  grid: string;
  font: string;
  palette: string[];
}

const DEFAULTS: Required<Theme> = {
  primaryColor: "#2563eb",
  backgroundColor: "#f5f7fa",
  textColor: "#1f2937",
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
};

type RGB = [number, number, number];

let probe: CanvasRenderingContext2D | null | undefined;

/** Parses any CSS colour the browser knows into RGB, or null. */
export function parseColor(value: string | undefined): RGB | null {
  const v = (value ?? "").trim();
  if (!v || /[;{}<>\\]/.test(v)) return null;
  if (probe === undefined) probe = document.createElement("canvas").getContext("2d");
  if (!probe) return null;
  // fillStyle ignores what it cannot parse; two different sentinels tell us whether it did.
  probe.fillStyle = "#010203";
  probe.fillStyle = v;
  const a = probe.fillStyle;
  probe.fillStyle = "#030201";
  probe.fillStyle = v;
  if (probe.fillStyle !== a) return null;
  const s = String(a);
  const hex = /^#([0-9a-f]{6})$/i.exec(s);
  if (hex) {
    const n = parseInt(hex[1], 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  const rgb = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(s);
  return rgb ? [Number(rgb[1]), Number(rgb[2]), Number(rgb[3])] : null;
}

function hex(c: RGB): string {
  return "#" + c.map((x) => Math.round(Math.max(0, Math.min(255, x))).toString(16).padStart(2, "0")).join("");
}

function mix(a: RGB, b: RGB, t: number): RGB {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

function luminance(c: RGB): number {
  const f = (x: number) => {
    const s = x / 255;
    return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
}

function toHsl([r, g, b]: RGB): [number, number, number] {
  r /= 255; g /= 255; b /= 255;
  const max = Math.max(r, g, b), min = Math.min(r, g, b);
  const l = (max + min) / 2;
  if (max === min) return [0, 0, l];
  const d = max - min;
  const s = l > 0.5 ? d / (2 - max - min) : d / (max + min);
  let h = max === r ? (g - b) / d + (g < b ? 6 : 0) : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
  h *= 60;
  return [h, s, l];
}

function fromHsl(h: number, s: number, l: number): RGB {
  h = ((h % 360) + 360) % 360;
  const c = (1 - Math.abs(2 * l - 1)) * s;
  const x = c * (1 - Math.abs(((h / 60) % 2) - 1));
  const m = l - c / 2;
  const [r, g, b] = h < 60 ? [c, x, 0] : h < 120 ? [x, c, 0] : h < 180 ? [0, c, x] : h < 240 ? [0, x, c] : h < 300 ? [x, 0, c] : [c, 0, x];
  return [(r + m) * 255, (g + m) * 255, (b + m) * 255];
}

/** A palette of distinct colours that starts with the primary colour and keeps its tone. */
export function paletteFrom(primary: RGB): string[] {
  const [h, s0, l0] = toHsl(primary);
  const s = Math.max(0.45, Math.min(0.85, s0 || 0.6));
  const l = Math.max(0.4, Math.min(0.6, l0));
  const steps = [0, 150, 40, 200, 95, 270, 320, 20, 175];
  return [hex(primary), ...steps.slice(1).map((d, i) => hex(fromHsl(h + d, s, i % 2 ? l + 0.08 : l)))];
}

/** A font-family list, or "" when it holds anything but names. */
function safeFont(v: string | undefined): string {
  const f = (v ?? "").trim();
  return f && /^[\w\s,'"\-.]+$/.test(f) ? f : "";
}

/** Merges the defaults, the tenant's theme and the host's (later wins, empty is unset). */
export function resolveTheme(tenant: Theme, host: Theme): ResolvedTheme {
  const pick = (k: keyof Theme, ok: (v: string | undefined) => boolean): string => {
    for (const t of [host, tenant]) if (t[k] && ok(t[k])) return String(t[k]).trim();
    return DEFAULTS[k];
  };
  const isColor = (v: string | undefined) => parseColor(v) !== null;
  const primary = parseColor(pick("primaryColor", isColor)) ?? [37, 99, 235];
  const bg = parseColor(pick("backgroundColor", isColor)) ?? [245, 247, 250];
  const text = parseColor(pick("textColor", isColor)) ?? [31, 41, 55];
  const font = pick("fontFamily", (v) => safeFont(v) !== "");
  const dark = luminance(bg) < 0.35;
  const white: RGB = [255, 255, 255];
  return {
    primary: hex(primary),
    onPrimary: luminance(primary) > 0.5 ? "#111827" : "#ffffff",
    background: hex(bg),
    surface: hex(dark ? mix(bg, white, 0.06) : mix(bg, white, 0.8)),
    text: hex(text),
    muted: hex(mix(text, bg, 0.42)),
    border: hex(mix(bg, text, dark ? 0.22 : 0.12)),
    grid: hex(mix(bg, text, dark ? 0.16 : 0.08)),
    font,
    palette: paletteFrom(primary),
  };
}

/** The `:host` rule carrying a theme as CSS custom properties. */
export function themeCss(t: ResolvedTheme): string {
  return `:host{--oriel-primary:${t.primary};--oriel-on-primary:${t.onPrimary};--oriel-bg:${t.background};` +
    `--oriel-surface:${t.surface};--oriel-text:${t.text};--oriel-muted:${t.muted};--oriel-border:${t.border};` +
    `--oriel-font:${t.font};}`;
}
