// The <oriel-embed> element: an app's sheet drawn inline in a shadow root, or, with the
// `frame` attribute, inside an iframe of the frame page that it drives by postMessage.
import { Api, ApiError, asApiError } from "./api";
import type { App, Chart, ChartData, FieldSelection, FieldValues, Sheet, Theme } from "./api";
import { PlotView, toPlot } from "./charts";
import type { Plot, PlotKind } from "./charts";
import { NARROW_PX, STYLESHEET } from "./styles";
import { resolveTheme, themeCss } from "./theme";
import type { ResolvedTheme } from "./theme";

/** The element's states, as its `data-state` attribute shows them. */
export type EmbedState = "loading" | "ready" | "expired" | "auth-failed" | "error";

const STATES: readonly EmbedState[] = ["loading", "ready", "expired", "auth-failed", "error"];

/** The events the element dispatches, which the frame page forwards to its host. */
export const EVENTS = ["ready", "selection-changed", "token-expiring", "token-expired", "auth-failed", "error"] as const;

/** The version of the postMessage protocol. */
export const PROTOCOL = 1;

const APP_RE = /^tenants\/[a-z][a-z0-9-]{1,61}[a-z0-9]\/apps\/[a-z][a-z0-9-]{1,61}[a-z0-9]$/;
const SHEET_RE = /^[a-z][a-z0-9-]{0,62}$/;

/** How long the frame page gets to say it loaded before we conclude it was refused. */
const FRAME_LOAD_TIMEOUT_MS = 10_000;

/** token-expiring fires this long before the token expires. */
const EXPIRING_LEAD_MS = 60_000;

/** The origin oriel-embed.js was loaded from: the default server. Read while the script runs. */
const SCRIPT_ORIGIN = (() => {
  try {
    const s = document.currentScript as HTMLScriptElement | null;
    if (s && s.src) return new URL(s.src, location.href).origin;
  } catch {
    // Fall back to the page's origin below.
  }
  return "";
})();

type ViewKind = "kpi" | "bar" | "line" | "pie" | "table" | "filter";

const KINDS: Record<string, ViewKind> = {
  KIND_KPI: "kpi",
  KIND_BAR: "bar",
  KIND_LINE: "line",
  KIND_PIE: "pie",
  KIND_TABLE: "table",
  KIND_FILTER: "filter",
};

/** The smallest height of a chart when charts are stacked on a narrow element. */
const MIN_HEIGHT: Record<ViewKind, string> = {
  kpi: "120px",
  bar: "300px",
  line: "300px",
  pie: "300px",
  table: "280px",
  filter: "260px",
};

/** ChartView is one chart on screen and what it last drew. */
interface ChartView {
  chart: Chart;
  kind: ViewKind;
  section: HTMLElement;
  body: HTMLElement;
  error: HTMLElement;
  clear: HTMLButtonElement;
  canvas?: HTMLElement;
  plot?: PlotView;
  plotData?: Plot;
  srTable?: HTMLTableElement;
  list?: HTMLUListElement;
  search?: HTMLInputElement;
  searchTimer?: number;
  /** The latest request; older answers are dropped. */
  seq: number;
  drawn: boolean;
}

/** The detail of the `error` and `auth-failed` events. */
type ErrorDetail = { status?: number; reason?: string; message: string };

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === "AbortError";
}

/** OrielEmbed is the `<oriel-embed>` element; see the README beside web/ for its contract. */
export class OrielEmbed extends HTMLElement {
  static get observedAttributes(): string[] {
    return ["app", "sheet", "server", "frame"];
  }

  private readonly root: ShadowRoot;
  private readonly themeStyle: HTMLStyleElement;
  private readonly container: HTMLDivElement;
  private connected = false;
  private started = false;

  private currentToken = "";
  /** Set after token-expired or auth-failed: no call until the next setToken. */
  private halted = false;
  private expiringTimer = 0;
  private expiredTimer = 0;
  private tokenEpoch = 0;
  private embedOrigin = "";

  private readonly selections = new Map<string, string[]>();
  private tenantTheme: Theme = {};
  private hostTheme: Theme = {};
  private themeFetchedFor = "";
  private theme: ResolvedTheme;

  private app: App | null = null;
  private appRequest: Promise<App | null> | null = null;
  private sheetId = "";
  private views = new Map<string, ChartView>();
  private readyFired = false;
  private abort = new AbortController();
  private sizeObserver: ResizeObserver | null = null;
  private canvasObserver: ResizeObserver | null = null;

  // Inline mode's parts.
  private bar: HTMLElement | null = null;
  private tabs: HTMLElement | null = null;
  private chips: HTMLElement | null = null;
  private grid: HTMLElement | null = null;
  private overlay: HTMLElement | null = null;

  // Frame mode's parts.
  private iframe: HTMLIFrameElement | null = null;
  private frameLoaded = false;
  private frameTimer = 0;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: "open" });
    const base = el("style");
    base.textContent = STYLESHEET;
    this.themeStyle = el("style");
    this.container = el("div");
    this.root.append(base, this.themeStyle, this.container);
    this.theme = resolveTheme({}, {});
    this.themeStyle.textContent = themeCss(this.theme);
  }

  // ---- Public API -------------------------------------------------------------------

  /** The embed token, write only: the same as setToken without waiting. */
  set token(t: string) {
    void this.setToken(t);
  }

  /**
   * Sets the embed token and (re)loads the data with the current selections. It resolves
   * when the data is drawn or failed; failures are reported as events, never thrown.
   */
  async setToken(token: string): Promise<void> {
    if (typeof token !== "string" || token.trim() === "") {
      this.fail({ message: "setToken needs an embed token (oriel_et_…)" });
      return;
    }
    this.currentToken = token.trim();
    this.halted = false;
    this.tokenEpoch++;
    this.clearTokenTimers();
    if (this.frameMode) {
      this.frameSend({ type: "setToken", token: this.currentToken });
      if (this.state !== "ready") this.setState("loading");
      return;
    }
    if (!this.connected) return;
    this.hideOverlay();
    if (this.state !== "ready") this.setState("loading");
    void this.introspect(this.tokenEpoch);
    await this.load();
  }

  /**
   * Selects values of a field: the field's selection is replaced, or with toggle each value
   * is toggled in or out of it. An empty result clears the field.
   */
  async select(field: string, values: string[], options: { toggle?: boolean } = {}): Promise<void> {
    if (typeof field !== "string" || field === "" || !Array.isArray(values)) {
      this.emit("error", { message: "select needs a field name and an array of values" });
      return;
    }
    const toggle = !!options?.toggle;
    const vals = values.map(String);
    this.applySelect(field, vals, toggle);
    this.selectionChanged();
    if (this.frameMode) {
      // The frame applies the same change; its echo of selection-changed is dropped.
      this.frameSend({ type: "select", field, values: vals, toggle });
      return;
    }
    await this.refreshAll();
  }

  /** Clears one field's selection, or every selection. */
  async clearSelections(field?: string): Promise<void> {
    if (field) this.selections.delete(field);
    else this.selections.clear();
    this.selectionChanged();
    if (this.frameMode) {
      this.frameSend({ type: "clearSelections", field: field ?? "" });
      return;
    }
    await this.refreshAll();
  }

  /** The current selections, one entry per field, in the order they were made. */
  getSelections(): FieldSelection[] {
    return [...this.selections].map(([field, values]) => ({ field, values: [...values] }));
  }

  /** Overrides the tenant's theme; the host's values win, empty ones are unset. */
  setTheme(theme: Theme): void {
    const t: Theme = {};
    for (const k of ["primaryColor", "backgroundColor", "textColor", "fontFamily"] as const) {
      if (theme && typeof theme[k] === "string") t[k] = theme[k];
    }
    this.hostTheme = { ...this.hostTheme, ...t };
    if (this.frameMode) this.frameSend({ type: "setTheme", theme: this.hostTheme });
    this.applyTheme();
  }

  /**
   * The viewport coordinates of the centre of a category's bar, point or slice in a chart
   * of the sheet shown, or null (no such chart or category, or in frame mode).
   */
  chartPoint(chartId: string, category: string): { x: number; y: number } | null {
    return this.views.get(chartId)?.plot?.point(String(category)) ?? null;
  }

  /**
   * Used by the frame page: the host page's origin, sent as `Oriel-Embed-Origin` with
   * every call. Not for host pages.
   */
  setEmbedOrigin(origin: string): void {
    this.embedOrigin = origin;
  }

  // ---- Lifecycle --------------------------------------------------------------------

  connectedCallback(): void {
    this.connected = true;
    // A token set as a property before the element was defined shadows the setter.
    if (Object.prototype.hasOwnProperty.call(this, "token")) {
      const t = (this as unknown as { token: unknown }).token;
      delete (this as unknown as { token?: unknown }).token;
      if (typeof t === "string") this.currentToken = t;
    }
    this.start();
  }

  disconnectedCallback(): void {
    this.connected = false;
    this.stop();
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (!this.connected || !this.started || old === value) return;
    if (name === "sheet" && !this.frameMode && this.app) {
      this.sheetId = "";
      this.renderSheet();
      void this.refreshAll();
      return;
    }
    if (name === "app") this.selections.clear();
    if (name === "app" || name === "server") this.themeFetchedFor = "";
    this.stop();
    this.start();
  }

  private get frameMode(): boolean {
    return this.hasAttribute("frame");
  }

  private get appName(): string {
    return (this.getAttribute("app") ?? "").trim();
  }

  private get tenant(): string {
    return this.appName.split("/")[1] ?? "";
  }

  private get server(): string {
    const attr = (this.getAttribute("server") ?? "").trim();
    if (attr) {
      try {
        return new URL(attr, location.href).origin + new URL(attr, location.href).pathname.replace(/\/+$/, "");
      } catch {
        return attr.replace(/\/+$/, "");
      }
    }
    return SCRIPT_ORIGIN || location.origin;
  }

  private get serverOrigin(): string {
    try {
      return new URL(this.server, location.href).origin;
    } catch {
      return "";
    }
  }

  private get state(): EmbedState | null {
    const s = this.getAttribute("data-state");
    return STATES.includes(s as EmbedState) ? (s as EmbedState) : null;
  }

  private setState(s: EmbedState): void {
    if (this.getAttribute("data-state") !== s) this.setAttribute("data-state", s);
  }

  private start(): void {
    this.started = true;
    this.abort = new AbortController();
    this.container.replaceChildren();
    this.setState("loading");
    if (this.frameMode) {
      this.startFrame();
      return;
    }
    this.buildInline();
    if (!this.checkApp()) return;
    if (this.currentToken) {
      void this.introspect(this.tokenEpoch);
      void this.load();
    }
  }

  private stop(): void {
    this.started = false;
    this.abort.abort();
    this.clearTokenTimers();
    this.disposeViews();
    this.sizeObserver?.disconnect();
    this.sizeObserver = null;
    this.canvasObserver?.disconnect();
    this.canvasObserver = null;
    window.removeEventListener("message", this.onFrameMessage);
    window.clearTimeout(this.frameTimer);
    this.iframe = null;
    this.frameLoaded = false;
    this.app = null;
    this.appRequest = null;
    this.readyFired = false;
  }

  /** Checks the app attribute, reporting an error when it is missing or malformed. */
  private checkApp(): boolean {
    const app = this.appName;
    if (APP_RE.test(app)) {
      const sheet = this.getAttribute("sheet");
      if (sheet === null || sheet === "" || SHEET_RE.test(sheet)) return true;
      this.fail({ message: `the sheet attribute "${sheet}" is not a sheet id` });
      return false;
    }
    this.fail({
      message: app
        ? `the app attribute "${app}" is not an app name such as tenants/acme/apps/sales`
        : "the app attribute is missing: set it to the app's name, e.g. tenants/acme/apps/sales",
    });
    return false;
  }

  // ---- Inline mode ------------------------------------------------------------------

  private buildInline(): void {
    const root = el("div", { class: "oriel-root", part: "root" });
    this.bar = el("div", { class: "oriel-bar" });
    this.tabs = el("nav", { class: "oriel-tabs", role: "tablist", "aria-label": "Sheets" });
    this.chips = el("div", { class: "oriel-selections", "aria-label": "Selections" });
    this.bar.append(this.tabs, this.chips);
    this.grid = el("div", { class: "oriel-grid" });
    this.overlay = el("div", { class: "oriel-overlay", role: "alert", hidden: "" });
    const card = el("div", { class: "oriel-overlay-card" });
    card.append(el("h2"), el("p"));
    this.overlay.append(card);
    root.append(this.bar, this.grid, this.overlay);
    this.container.append(root);
    this.grid.append(el("div", { class: "oriel-skeleton oriel-placeholder", "aria-hidden": "true" }));
    this.renderChips();
    this.updateBar();

    this.sizeObserver = new ResizeObserver(() => {
      root.classList.toggle("oriel-narrow", this.getBoundingClientRect().width < NARROW_PX);
    });
    this.sizeObserver.observe(this);
    root.classList.toggle("oriel-narrow", this.getBoundingClientRect().width < NARROW_PX);
    this.canvasObserver = new ResizeObserver((entries) => {
      for (const e of entries) {
        const id = (e.target as HTMLElement).dataset.for;
        if (id) this.views.get(id)?.plot?.resize();
      }
    });
  }

  private updateBar(): void {
    if (this.bar) this.bar.hidden = !this.tabs?.childElementCount && !this.chips?.childElementCount;
  }

  private api(): Api {
    // A same-origin page's calls carry no Origin header; the token's bound origin is then
    // checked against Oriel-Embed-Origin.
    const origin = this.embedOrigin || (location.origin === this.serverOrigin ? location.origin : "");
    return new Api(this.server, this.currentToken, origin);
  }

  private canCall(): boolean {
    return this.connected && this.started && !this.frameMode && !!this.currentToken && !this.halted && APP_RE.test(this.appName);
  }

  /** Loads the theme and the app (once), lays out the sheet (once) and fetches every chart. */
  private async load(): Promise<void> {
    if (!this.checkApp() || !this.canCall()) return;
    const signal = this.abort.signal;
    if (this.themeFetchedFor !== this.tenant) {
      this.themeFetchedFor = this.tenant;
      const tenant = this.tenant;
      this.api().theme(tenant, signal).then((t) => {
        if (this.tenant !== tenant) return;
        this.tenantTheme = t ?? {};
        this.applyTheme();
      }).catch((err) => {
        // The theme is a nicety: the defaults do. A refused token shows on the data calls.
        if (!isAbort(err)) this.themeFetchedFor = "";
      });
    }
    if (!this.app) {
      if (!this.appRequest) {
        const name = this.appName;
        this.appRequest = this.api().getApp(name, signal).then(
          (app) => (this.appName === name ? app : null),
          (err) => {
            if (!isAbort(err)) this.report(asApiError(err), true);
            return null;
          },
        ).finally(() => {
          this.appRequest = null;
        });
      }
      const app = await this.appRequest;
      if (!app || signal.aborted) return;
      this.app = app;
      this.renderSheet();
    }
    await this.refreshAll();
  }

  private sheets(): Sheet[] {
    return this.app?.definition?.sheets ?? [];
  }

  /** Lays out the sheet to show: its tabs and a section per chart. */
  private renderSheet(): void {
    if (!this.grid || !this.tabs) return;
    const sheets = this.sheets();
    const fixed = this.getAttribute("sheet") || "";
    const id = fixed || (sheets.some((s) => s.id === this.sheetId) ? this.sheetId : sheets[0]?.id ?? "");
    const sheet = sheets.find((s) => s.id === id);
    this.disposeViews();
    this.grid.replaceChildren();
    this.tabs.replaceChildren();
    if (!sheet) {
      this.sheetId = "";
      this.updateBar();
      this.fail({
        message: fixed ? `the app ${this.appName} has no sheet "${fixed}"` : `the app ${this.appName} has no sheets`,
      });
      return;
    }
    this.sheetId = sheet.id;
    if (!fixed && sheets.length > 1) {
      for (const s of sheets) {
        const b = el("button", { type: "button", class: "oriel-tab", role: "tab", "data-sheet-id": s.id, "aria-selected": String(s.id === sheet.id) }, s.title || s.id);
        b.addEventListener("click", () => this.showSheet(s.id));
        this.tabs.append(b);
      }
    }
    this.updateBar();
    const charts = [...(sheet.charts ?? [])].sort((a, b) => (a.position?.y ?? 0) - (b.position?.y ?? 0) || (a.position?.x ?? 0) - (b.position?.x ?? 0));
    for (const c of charts) {
      const v = this.createView(c);
      this.views.set(c.id, v);
      this.grid.append(v.section);
    }
    if (!charts.length) this.grid.append(el("p", { class: "oriel-filter-empty" }, "This sheet has no charts."));
  }

  private showSheet(id: string): void {
    if (id === this.sheetId) return;
    this.sheetId = id;
    this.renderSheet();
    void this.refreshAll();
  }

  private createView(chart: Chart): ChartView {
    const kind = KINDS[String(chart.kind)] ?? "table";
    const p = chart.position ?? {};
    const x = Math.max(0, Math.min(23, p.x ?? 0));
    const w = Math.max(1, Math.min(24 - x, p.width ?? 24));
    const section = el("section", { class: "oriel-chart", "data-chart-id": chart.id, "data-chart-kind": kind, "aria-busy": "true" });
    section.style.setProperty("--x", String(x));
    section.style.setProperty("--y", String(Math.max(0, p.y ?? 0)));
    section.style.setProperty("--w", String(w));
    section.style.setProperty("--h", String(Math.max(1, p.height ?? 6)));
    section.style.setProperty("--min-h", MIN_HEIGHT[kind]);
    const head = el("div", { class: "oriel-chart-head" });
    const title = chart.title || chart.dimensions?.[0] || chart.measures?.[0]?.label || chart.id;
    const h3 = el("h3", { id: `oriel-t-${chart.id}` }, title);
    section.setAttribute("aria-labelledby", h3.id);
    const clear = el("button", { type: "button", class: "oriel-clear", hidden: "" }, "Clear");
    const field = chart.dimensions?.[0];
    if (field) {
      clear.title = `Clear the selection of ${field}`;
      clear.addEventListener("click", () => void this.clearSelections(field));
    }
    head.append(h3, clear);
    const body = el("div", { class: "oriel-body" });
    const error = el("div", { class: "oriel-chart-error", role: "status", hidden: "" });
    section.append(head, body, error);
    const v: ChartView = { chart, kind, section, body, error, clear, seq: 0, drawn: false };
    body.append(el("div", { class: "oriel-skeleton" }));
    this.updateClear(v);
    return v;
  }

  private disposeViews(): void {
    for (const v of this.views.values()) {
      v.plot?.dispose();
      window.clearTimeout(v.searchTimer);
    }
    this.canvasObserver?.disconnect();
    this.views.clear();
  }

  /** Fetches every chart of the sheet with the current selections and draws them. */
  private async refreshAll(): Promise<void> {
    if (!this.canCall() || !this.app) return;
    const views = [...this.views.values()];
    const epoch = this.tokenEpoch;
    const results = await Promise.all(views.map((v) => this.refreshView(v)));
    if (!this.canCall() || epoch !== this.tokenEpoch) return;
    const errors = results.filter((r): r is ApiError => r instanceof ApiError);
    const auth = errors.find((e) => e.isAuth);
    if (auth) {
      this.report(auth, true);
      return;
    }
    if (errors.length && errors.length === views.length) {
      this.report(errors[0], true);
      return;
    }
    if (errors.length) this.report(errors[0], false);
    if (views.length && results.every((r) => r === "stale")) return;
    this.hideOverlay();
    this.setState("ready");
    if (!this.readyFired) {
      this.readyFired = true;
      this.emit("ready", { app: this.appName, sheet: this.sheetId });
    }
  }

  /** Fetches and draws one chart: null when drawn, "stale" when a newer call superseded it. */
  private async refreshView(v: ChartView): Promise<ApiError | "stale" | null> {
    const seq = ++v.seq;
    const api = this.api();
    const signal = this.abort.signal;
    const sel = this.getSelections();
    try {
      if (v.kind === "filter") {
        const field = v.chart.dimensions?.[0] ?? "";
        const data = await api.fieldValues(this.appName, field, sel, v.search?.value.trim() ?? "", signal);
        if (seq !== v.seq || signal.aborted) return "stale";
        this.drawFilter(v, data);
      } else {
        const data = await api.chartData(this.appName, this.sheetId, v.chart.id, sel, signal);
        if (seq !== v.seq || signal.aborted) return "stale";
        this.drawChart(v, data);
      }
      v.error.hidden = true;
      v.body.hidden = false;
      v.section.removeAttribute("aria-busy");
      v.drawn = true;
      return null;
    } catch (err) {
      if (isAbort(err) || seq !== v.seq) return "stale";
      const e = asApiError(err);
      v.section.removeAttribute("aria-busy");
      if (!e.isAuth) {
        v.error.replaceChildren(el("strong", {}, "This chart could not be loaded"), document.createTextNode(e.message));
        v.error.hidden = false;
        v.body.hidden = true;
      }
      return e;
    }
  }

  private drawChart(v: ChartView, data: ChartData): void {
    if (v.kind === "kpi") this.drawKpi(v, data);
    else if (v.kind === "table") this.drawTable(v, data);
    else this.drawPlot(v, data);
  }

  private drawKpi(v: ChartView, data: ChartData): void {
    const cols = data.columns ?? [];
    const row = data.rows?.[0]?.cells ?? data.totals?.cells ?? [];
    const wrap = el("div", { class: "oriel-kpis" });
    const measures = cols.map((c, i) => ({ c, i })).filter((m) => m.c.measure || cols.every((x) => !x.measure));
    const list = measures.length ? measures : (v.chart.measures ?? []).map((m, i) => ({ c: { label: m.label || m.field }, i }));
    for (const { c, i } of list) {
      const k = el("div", { class: "oriel-kpi" });
      const cell = row[i];
      k.append(
        el("div", { class: "oriel-kpi-value" }, cell && !cell.null && cell.text ? cell.text : "–"),
        el("div", { class: "oriel-kpi-label" }, c.label || v.chart.measures?.[i]?.label || ""),
      );
      wrap.append(k);
    }
    v.body.replaceChildren(wrap);
  }

  /** A table of chart data: a header row of column labels, then a row per data row. */
  private dataTable(data: ChartData, className: string, selectable: boolean): HTMLTableElement {
    const table = el("table", { class: className });
    const cols = data.columns ?? [];
    const head = el("thead");
    const tr = el("tr");
    for (const c of cols) tr.append(el("th", c.measure ? { scope: "col", class: "oriel-num" } : { scope: "col" }, c.label ?? ""));
    head.append(tr);
    const body = el("tbody");
    for (const r of data.rows ?? []) {
      const row = el("tr");
      const cells = r.cells ?? [];
      const first = cells[0];
      if (selectable && first && !first.null && first.text) row.dataset.value = first.text;
      cells.forEach((cell, i) => row.append(el("td", cols[i]?.measure ? { class: "oriel-num" } : {}, cell.null ? "" : cell.text ?? "")));
      body.append(row);
    }
    table.append(head, body);
    return table;
  }

  private drawTable(v: ChartView, data: ChartData): void {
    const field = v.chart.dimensions?.[0];
    const table = this.dataTable(data, "oriel-data", !!field);
    if (field) {
      table.addEventListener("click", (e) => {
        const tr = (e.target as HTMLElement).closest("tr[data-value]") as HTMLElement | null;
        if (tr?.dataset.value) void this.select(field, [tr.dataset.value], { toggle: true });
      });
    }
    let wrap = v.body.querySelector<HTMLElement>(".oriel-table-wrap");
    const top = wrap?.scrollTop ?? 0;
    const left = wrap?.scrollLeft ?? 0;
    if (!wrap) {
      wrap = el("div", { class: "oriel-table-wrap" });
      v.body.replaceChildren(wrap);
    }
    wrap.replaceChildren(table);
    wrap.scrollTop = top;
    wrap.scrollLeft = left;
    const total = Number(data.totalRows ?? 0);
    const shown = data.rows?.length ?? 0;
    v.body.querySelector(".oriel-table-foot")?.remove();
    if (total > shown) v.body.append(el("div", { class: "oriel-table-foot" }, `Showing ${shown.toLocaleString()} of ${total.toLocaleString()} rows`));
  }

  private drawPlot(v: ChartView, data: ChartData): void {
    const kind = v.kind as PlotKind;
    const plot = toPlot(data, v.chart.dimensions?.length ?? 1);
    if (!v.plot || !v.canvas || !v.canvas.isConnected) {
      v.canvas = el("div", { class: "oriel-canvas", "data-for": v.chart.id, role: "img", "aria-label": v.chart.title || v.chart.id });
      v.srTable = undefined;
      v.body.replaceChildren(v.canvas);
      const field = v.chart.dimensions?.[0];
      v.plot = new PlotView(v.canvas, kind, (category) => {
        if (field) void this.select(field, [category], { toggle: true });
      });
      this.canvasObserver?.observe(v.canvas);
    }
    const sr = this.dataTable(data, "oriel-data oriel-sr-only", false);
    if (v.srTable) v.srTable.replaceWith(sr);
    else v.body.append(sr);
    v.srTable = sr;
    v.plotData = plot;
    v.plot.render(plot, this.theme);
  }

  private drawFilter(v: ChartView, data: FieldValues): void {
    const field = v.chart.dimensions?.[0] ?? "";
    if (!v.list || !v.list.isConnected) {
      const box = el("div", { class: "oriel-filter" });
      v.search = el("input", { type: "search", class: "oriel-search", placeholder: "Search…", "aria-label": `Search ${field}` });
      v.search.addEventListener("input", () => {
        window.clearTimeout(v.searchTimer);
        v.searchTimer = window.setTimeout(() => {
          void this.refreshView(v).then((r) => {
            if (r instanceof ApiError) this.report(r, r.isAuth);
          });
        }, 200);
      });
      v.list = el("ul", { role: "listbox", "aria-multiselectable": "true", "aria-labelledby": `oriel-t-${v.chart.id}` });
      v.list.addEventListener("click", (e) => {
        const li = (e.target as HTMLElement).closest("li[data-value]") as HTMLElement | null;
        if (li && li.dataset.value !== undefined) void this.select(field, [li.dataset.value], { toggle: true });
      });
      v.list.addEventListener("keydown", (e) => {
        const li = (e.target as HTMLElement).closest("li[data-value]") as HTMLElement | null;
        if (!li) return;
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          if (li.dataset.value !== undefined) void this.select(field, [li.dataset.value], { toggle: true });
        } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
          e.preventDefault();
          const next = (e.key === "ArrowDown" ? li.nextElementSibling : li.previousElementSibling) as HTMLElement | null;
          next?.focus();
        }
      });
      box.append(v.search, v.list);
      v.body.replaceChildren(box);
    }
    const list = v.list;
    const top = list.scrollTop;
    const focused = (this.root.activeElement as HTMLElement | null)?.closest?.("li")?.dataset.value;
    const items: HTMLLIElement[] = [];
    for (const fv of data.values ?? []) {
      const text = fv.value?.null ? "" : fv.value?.text ?? "";
      const state = String(fv.state ?? "STATE_POSSIBLE").replace(/^STATE_/, "").toLowerCase();
      const li = el("li", { role: "option", tabindex: "0", "data-value": text, "data-state": state, "aria-selected": String(state === "selected") });
      li.append(el("span", {}, text || "(empty)"));
      items.push(li);
    }
    if (!items.length) {
      const li = el("li", { class: "oriel-filter-empty", role: "presentation" }, v.search?.value ? "No matching values" : "No values");
      items.push(li);
    }
    list.replaceChildren(...items);
    list.scrollTop = top;
    if (focused !== undefined) list.querySelector<HTMLElement>(`li[data-value="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
  }

  private updateClear(v: ChartView): void {
    const field = v.chart.dimensions?.[0];
    v.clear.hidden = !(field && this.selections.has(field) && (v.kind === "filter" || v.kind === "bar" || v.kind === "line" || v.kind === "pie" || v.kind === "table"));
  }

  private renderChips(): void {
    if (!this.chips) return;
    const chips: HTMLElement[] = [];
    for (const [field, values] of this.selections) {
      const b = el("button", { type: "button", class: "oriel-chip", title: `Clear the selection of ${field}`, "data-field": field });
      const label = el("span");
      label.append(el("b", {}, field + ": "), document.createTextNode(values.join(", ")));
      b.append(label, el("i", { "aria-hidden": "true" }, "×"));
      b.setAttribute("aria-label", `${field}: ${values.join(", ")}. Clear`);
      b.addEventListener("click", () => void this.clearSelections(field));
      chips.push(b);
    }
    if (chips.length > 1) {
      const all = el("button", { type: "button", class: "oriel-clear" }, "Clear all");
      all.addEventListener("click", () => void this.clearSelections());
      chips.push(all);
    }
    this.chips.replaceChildren(...chips);
    this.updateBar();
  }

  private applySelect(field: string, values: string[], toggle: boolean): void {
    let next: string[];
    if (toggle) {
      const cur = new Set(this.selections.get(field) ?? []);
      for (const v of values) {
        if (cur.has(v)) cur.delete(v);
        else cur.add(v);
      }
      next = [...cur];
    } else {
      next = [...new Set(values)];
    }
    if (next.length) this.selections.set(field, next);
    else this.selections.delete(field);
  }

  private selectionChanged(): void {
    this.renderChips();
    for (const v of this.views.values()) this.updateClear(v);
    this.emit("selection-changed", { selections: this.getSelections() });
  }

  private applyTheme(): void {
    this.theme = resolveTheme(this.tenantTheme, this.hostTheme);
    this.themeStyle.textContent = themeCss(this.theme);
    for (const v of this.views.values()) if (v.plot && v.plotData) v.plot.render(v.plotData, this.theme);
  }

  // ---- Tokens -----------------------------------------------------------------------

  private async introspect(epoch: number): Promise<void> {
    try {
      const res = await this.api().introspect(this.abort.signal);
      if (epoch !== this.tokenEpoch) return;
      if (res.active === false) {
        this.report(new ApiError(401, "", "the embed token is not active"), true);
        return;
      }
      const exp = res.principal?.embedSession?.expireTime;
      if (exp) this.scheduleExpiry(exp, epoch);
    } catch (err) {
      if (isAbort(err) || epoch !== this.tokenEpoch) return;
      const e = asApiError(err);
      // Other failures show on the data calls; without an expiry there is nothing to plan.
      if (e.isAuth) this.report(e, true);
    }
  }

  private scheduleExpiry(expireTime: string, epoch: number): void {
    const at = Date.parse(expireTime);
    if (!isFinite(at)) return;
    this.clearTokenTimers();
    const max = 2 ** 31 - 1;
    const left = at - Date.now();
    this.expiringTimer = window.setTimeout(() => {
      if (epoch !== this.tokenEpoch) return;
      this.emit("token-expiring", { expireTime, secondsLeft: Math.max(0, Math.round((at - Date.now()) / 1000)) });
    }, Math.min(max, Math.max(0, left - EXPIRING_LEAD_MS)));
    this.expiredTimer = window.setTimeout(() => {
      if (epoch !== this.tokenEpoch) return;
      this.halted = true;
      this.abort.abort();
      this.abort = new AbortController();
      this.appRequest = null;
      this.setState("expired");
      this.showOverlay("Your session has expired", "Waiting for a new session…");
      this.emit("token-expired", { expireTime });
    }, Math.min(max, Math.max(0, left)));
  }

  private clearTokenTimers(): void {
    window.clearTimeout(this.expiringTimer);
    window.clearTimeout(this.expiredTimer);
  }

  // ---- Errors and events ------------------------------------------------------------

  /** Reports a failed call: auth failures halt the element; global errors cover it. */
  private report(err: ApiError, global: boolean): void {
    if (err.isAuth) {
      this.halted = true;
      this.clearTokenTimers();
      this.setState("auth-failed");
      this.showOverlay("Your session has ended", err.message);
      this.emit("auth-failed", { status: err.status, reason: err.reason, message: err.message });
      return;
    }
    if (global) {
      this.setState("error");
      this.showOverlay("The dashboard could not be loaded", err.message);
    }
    this.emit("error", err.detail());
  }

  /** Puts the element in the error state with an error event. */
  private fail(detail: ErrorDetail): void {
    this.setState("error");
    this.showOverlay("The dashboard could not be shown", detail.message);
    this.emit("error", detail);
  }

  private showOverlay(title: string, message: string): void {
    if (!this.overlay) return;
    const [h, p] = [this.overlay.querySelector("h2"), this.overlay.querySelector("p")];
    if (h) h.textContent = title;
    if (p) p.textContent = message;
    this.overlay.hidden = false;
  }

  private hideOverlay(): void {
    if (this.overlay) this.overlay.hidden = true;
  }

  private emit(name: (typeof EVENTS)[number], detail: unknown): void {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }

  // ---- Frame mode (host side) -------------------------------------------------------

  private startFrame(): void {
    const origin = this.serverOrigin;
    if (!this.checkAppFrame() || !origin) return;
    const sheet = this.getAttribute("sheet");
    const src = `${this.server}/embed/v1/${this.appName}${sheet ? `/sheets/${encodeURIComponent(sheet)}` : ""}`;
    const f = el("iframe", { class: "oriel-frame", title: "Oriel dashboard", src, referrerpolicy: "origin" });
    f.style.height = "600px";
    this.iframe = f;
    this.frameLoaded = false;
    window.addEventListener("message", this.onFrameMessage);
    this.frameTimer = window.setTimeout(() => {
      if (this.frameLoaded) return;
      this.setState("error");
      this.emit("error", {
        message: `the Oriel frame at ${origin} did not load within ${FRAME_LOAD_TIMEOUT_MS / 1000} s: it was refused ` +
          `(this page's origin, ${location.origin}, is not among the tenant's allowed web origins, so the frame's ` +
          `Content-Security-Policy frame-ancestors blocks it) or the server cannot be reached`,
      });
    }, FRAME_LOAD_TIMEOUT_MS);
    this.container.append(f);
  }

  private checkAppFrame(): boolean {
    const ok = APP_RE.test(this.appName) && (!this.getAttribute("sheet") || SHEET_RE.test(this.getAttribute("sheet") ?? ""));
    if (!ok) {
      this.setState("error");
      this.emit("error", { message: this.appName ? `the app attribute "${this.appName}" or the sheet attribute is malformed` : "the app attribute is missing: set it to the app's name, e.g. tenants/acme/apps/sales" });
    }
    return ok;
  }

  private frameSend(msg: Record<string, unknown>): void {
    if (!this.iframe?.contentWindow || !this.frameLoaded) return;
    this.iframe.contentWindow.postMessage({ oriel: PROTOCOL, ...msg }, this.serverOrigin);
  }

  private readonly onFrameMessage = (e: MessageEvent): void => {
    if (!this.iframe || e.source !== this.iframe.contentWindow || e.origin !== this.serverOrigin) return;
    const m = e.data as { oriel?: number; type?: string; name?: string; detail?: unknown; state?: string; height?: number } | null;
    if (!m || typeof m !== "object" || m.oriel !== PROTOCOL) return;
    switch (m.type) {
      case "loaded":
        // Also after the frame reloads: hand it everything it needs again.
        this.frameLoaded = true;
        window.clearTimeout(this.frameTimer);
        for (const s of this.getSelections()) this.frameSend({ type: "select", field: s.field, values: s.values, toggle: false });
        if (Object.keys(this.hostTheme).length) this.frameSend({ type: "setTheme", theme: this.hostTheme });
        if (this.currentToken) this.frameSend({ type: "setToken", token: this.currentToken });
        return;
      case "state":
        if (STATES.includes(m.state as EmbedState)) this.setState(m.state as EmbedState);
        return;
      case "size":
        if (typeof m.height === "number" && isFinite(m.height)) this.iframe.style.height = `${Math.max(100, Math.min(20000, Math.ceil(m.height)))}px`;
        return;
      case "event": {
        const name = EVENTS.find((n) => n === m.name);
        if (!name) return;
        if (name === "selection-changed") {
          const sel = (m.detail as { selections?: FieldSelection[] } | undefined)?.selections ?? [];
          const before = JSON.stringify(this.getSelections());
          this.selections.clear();
          for (const s of sel) if (s && typeof s.field === "string" && Array.isArray(s.values)) this.selections.set(s.field, s.values.map(String));
          // The echo of our own select or clearSelections, or of the selections replayed into a
          // (re)loaded frame, changes nothing here.
          if (JSON.stringify(this.getSelections()) === before) return;
        }
        this.emit(name, m.detail);
        return;
      }
    }
  };
}
