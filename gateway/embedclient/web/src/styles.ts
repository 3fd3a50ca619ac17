// The element's stylesheet, inside its shadow root. Colours come from the theme's custom
// properties (see theme.ts).

/** Pixels of one grid row: a chart of height h is h rows plus the gaps between them. */
export const ROW_PX = 40;

/** Below this width the sheet becomes one column of stacked charts. */
export const NARROW_PX = 640;

export const STYLESHEET = `
:host{display:block;position:relative;box-sizing:border-box;color:var(--oriel-text);
  background:var(--oriel-bg);font-family:var(--oriel-font);font-size:14px;line-height:1.4;
  -webkit-font-smoothing:antialiased}
:host([hidden]){display:none}
*,*::before,*::after{box-sizing:border-box}
.oriel-root{position:relative;padding:16px;min-height:120px}
.oriel-bar{display:flex;flex-wrap:wrap;align-items:center;gap:8px 16px;margin:0 0 12px}
.oriel-bar[hidden]{display:none}
.oriel-tabs{display:flex;gap:4px;flex-wrap:wrap;border-bottom:1px solid var(--oriel-border);flex:1 1 auto;min-width:0}
.oriel-tabs:empty{display:none}
.oriel-tab{appearance:none;border:0;background:none;color:var(--oriel-muted);font:inherit;font-weight:500;
  padding:8px 12px;margin-bottom:-1px;border-bottom:2px solid transparent;cursor:pointer}
.oriel-tab:hover{color:var(--oriel-text)}
.oriel-tab[aria-selected="true"]{color:var(--oriel-primary);border-bottom-color:var(--oriel-primary)}
.oriel-tab:focus-visible,.oriel-chip:focus-visible,.oriel-filter li:focus-visible,.oriel-clear:focus-visible{outline:2px solid var(--oriel-primary);outline-offset:1px}
.oriel-selections{display:flex;flex-wrap:wrap;gap:6px;align-items:center}
.oriel-selections:empty{display:none}
.oriel-chip{display:inline-flex;align-items:center;gap:6px;max-width:320px;border:1px solid var(--oriel-border);
  background:var(--oriel-surface);color:var(--oriel-text);border-radius:999px;padding:3px 6px 3px 10px;font:inherit;font-size:12px;cursor:pointer}
.oriel-chip b{font-weight:600}
.oriel-chip span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.oriel-chip i{font-style:normal;display:inline-grid;place-items:center;width:16px;height:16px;border-radius:50%;
  background:var(--oriel-border);font-size:11px;line-height:1}
.oriel-chip:hover i{background:var(--oriel-primary);color:var(--oriel-on-primary)}
.oriel-grid{display:grid;grid-template-columns:repeat(24,minmax(0,1fr));grid-auto-rows:${ROW_PX}px;gap:12px}
.oriel-chart{grid-column:calc(var(--x) + 1)/span var(--w);grid-row:calc(var(--y) + 1)/span var(--h);
  display:flex;flex-direction:column;min-width:0;min-height:0;background:var(--oriel-surface);
  border:1px solid var(--oriel-border);border-radius:10px;padding:12px 14px;overflow:hidden;
  box-shadow:0 1px 2px rgba(16,24,40,.04)}
.oriel-narrow .oriel-grid{grid-template-columns:minmax(0,1fr);grid-auto-rows:auto}
.oriel-narrow .oriel-chart{grid-column:1;grid-row:auto;height:max(calc(var(--h) * ${ROW_PX}px), var(--min-h))}
.oriel-chart-head{display:flex;align-items:center;gap:8px;margin:0 0 8px;min-height:20px}
.oriel-chart h3{margin:0;font-size:13px;font-weight:600;letter-spacing:.01em;color:var(--oriel-text);
  flex:1 1 auto;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.oriel-clear{appearance:none;border:0;background:none;color:var(--oriel-primary);font:inherit;font-size:12px;cursor:pointer;padding:0}
.oriel-clear[hidden]{display:none}
.oriel-body{position:relative;flex:1 1 auto;min-height:0;display:flex;flex-direction:column}
.oriel-body[hidden]{display:none}
.oriel-canvas{flex:1 1 auto;min-height:0;width:100%}
.oriel-chart-error{margin:auto;padding:8px 12px;font-size:13px;text-align:center;color:var(--oriel-muted);overflow-wrap:anywhere}
.oriel-chart-error strong{display:block;color:#b42318;font-weight:600;margin-bottom:2px}
.oriel-chart-error[hidden]{display:none}
.oriel-chart[aria-busy="true"] .oriel-body:empty,.oriel-skeleton{flex:1;border-radius:6px;
  background:linear-gradient(90deg,var(--oriel-bg) 25%,var(--oriel-border) 50%,var(--oriel-bg) 75%);
  background-size:200% 100%;animation:oriel-shimmer 1.4s infinite linear;opacity:.6}
@keyframes oriel-shimmer{from{background-position:200% 0}to{background-position:-200% 0}}
@media (prefers-reduced-motion:reduce){.oriel-skeleton{animation:none}}
:host(:not([data-state="loading"])) .oriel-skeleton{animation:none}
.oriel-placeholder{grid-column:1/-1;grid-row:span 6}
.oriel-sr-only{position:absolute!important;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;
  clip:rect(0 0 0 0);white-space:nowrap;border:0}
.oriel-kpis{flex:1;display:flex;flex-wrap:wrap;align-items:center;justify-content:space-around;gap:8px 24px}
.oriel-kpi{display:flex;flex-direction:column;align-items:center;min-width:0;text-align:center}
.oriel-kpi-value{font-size:clamp(22px,3.2vw,36px);font-weight:650;letter-spacing:-.02em;color:var(--oriel-primary);
  font-variant-numeric:tabular-nums;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:100%}
.oriel-kpi-label{font-size:12px;color:var(--oriel-muted);text-transform:uppercase;letter-spacing:.05em;margin-top:2px}
.oriel-table-wrap{flex:1;overflow:auto;min-height:0}
table.oriel-data:not(.oriel-sr-only){width:100%;border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
table.oriel-data:not(.oriel-sr-only) th{position:sticky;top:0;background:var(--oriel-surface);text-align:left;font-weight:600;
  color:var(--oriel-muted);font-size:12px;padding:6px 10px;border-bottom:1px solid var(--oriel-border);white-space:nowrap}
table.oriel-data:not(.oriel-sr-only) td{padding:6px 10px;border-bottom:1px solid var(--oriel-border);white-space:nowrap}
table.oriel-data .oriel-num{text-align:right}
table.oriel-data tbody tr[data-value]{cursor:pointer}
table.oriel-data tbody tr[data-value]:hover td{background:var(--oriel-bg)}
.oriel-table-foot{font-size:12px;color:var(--oriel-muted);padding-top:6px}
.oriel-filter{flex:1;display:flex;flex-direction:column;min-height:0;gap:6px}
.oriel-search{width:100%;font:inherit;font-size:13px;padding:5px 9px;border:1px solid var(--oriel-border);border-radius:6px;
  background:var(--oriel-surface);color:var(--oriel-text)}
.oriel-search:focus{outline:2px solid var(--oriel-primary);outline-offset:-1px}
.oriel-filter ul{list-style:none;margin:0;padding:0;overflow:auto;flex:1;min-height:0;border:1px solid var(--oriel-border);border-radius:6px}
.oriel-filter li{padding:6px 10px;cursor:pointer;border-bottom:1px solid rgba(0,0,0,.06);font-size:13px;
  display:flex;justify-content:space-between;gap:8px;user-select:none}
.oriel-filter li:last-child{border-bottom:0}
.oriel-filter li span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.oriel-filter li[data-state="selected"]{background:var(--oriel-primary);color:var(--oriel-on-primary);font-weight:600}
.oriel-filter li[data-state="possible"]{background:#ffffff;color:#111827}
.oriel-filter li[data-state="possible"]:hover{background:#f1f5f9}
.oriel-filter li[data-state="alternative"]{background:#e5e7eb;color:#374151}
.oriel-filter li[data-state="excluded"]{background:#9ca3af;color:#f9fafb}
.oriel-filter-empty{padding:10px;color:var(--oriel-muted);font-size:13px}
.oriel-overlay{position:absolute;inset:0;display:flex;align-items:center;justify-content:center;padding:24px;
  background:color-mix(in srgb,var(--oriel-bg) 78%,transparent);backdrop-filter:blur(2px);z-index:10}
.oriel-overlay[hidden]{display:none}
.oriel-overlay-card{max-width:420px;background:var(--oriel-surface);border:1px solid var(--oriel-border);border-radius:12px;
  padding:20px 24px;box-shadow:0 10px 30px rgba(16,24,40,.12);text-align:center}
.oriel-overlay-card h2{margin:0 0 6px;font-size:16px}
.oriel-overlay-card p{margin:0;color:var(--oriel-muted);font-size:13px;overflow-wrap:anywhere}
.oriel-frame{display:block;width:100%;border:0;min-height:200px;background:transparent}
:host([frame]){background:transparent}
`;
