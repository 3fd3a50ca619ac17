// The REST calls the client makes, and the JSON shapes it reads. The edge speaks
// protojson: camelCase names, enums as their names, int64 as strings.
import { formatChartData } from "./format";

/** A chart kind as protojson writes it. */
export type ChartKindName = "KIND_KPI" | "KIND_BAR" | "KIND_LINE" | "KIND_PIE" | "KIND_TABLE" | "KIND_FILTER";

/** A measure of a chart. */
export interface Measure {
  aggregation?: string;
  field?: string;
  label?: string;
  numberFormat?: string;
}

/** Where a chart sits on a sheet's grid of 24 columns. */
export interface GridPosition {
  x?: number;
  y?: number;
  width?: number;
  height?: number;
}

/** A chart of a sheet. */
export interface Chart {
  id: string;
  title?: string;
  kind?: ChartKindName | string;
  dimensions?: string[];
  measures?: Measure[];
  position?: GridPosition;
}

/** A sheet of an app. */
export interface Sheet {
  id: string;
  title?: string;
  charts?: Chart[];
}

/** An app, as far as the client reads it. */
export interface App {
  name: string;
  title?: string;
  definition?: { sheets?: Sheet[] };
}

/** One value of chart data or of a field. */
export interface Cell {
  text?: string;
  number?: number;
  null?: boolean;
}

/** A column of chart data: dimensions first, then measures. */
export interface ChartColumn {
  label?: string;
  measure?: boolean;
  numberFormat?: string;
}

/** The answer of `:chartData`. */
export interface ChartData {
  columns?: ChartColumn[];
  rows?: { cells?: Cell[] }[];
  totals?: { cells?: Cell[] };
  totalRows?: string;
}

/** A value's state in a list box. */
export type FieldValueState = "STATE_SELECTED" | "STATE_POSSIBLE" | "STATE_ALTERNATIVE" | "STATE_EXCLUDED";

/** The answer of `:fieldValues`. */
export interface FieldValues {
  values?: { value?: Cell; state?: FieldValueState | string; count?: string }[];
  totalValues?: string;
}

/** The selected values of one field, by their text. */
export interface FieldSelection {
  field: string;
  values: string[];
}

/** A tenant's theme; empty strings when unset. */
export interface Theme {
  primaryColor?: string;
  backgroundColor?: string;
  textColor?: string;
  fontFamily?: string;
}

/** The reason the edge gives when a call comes from an origin the tenant does not allow. */
export const ORIGIN_NOT_ALLOWED = "ORIGIN_NOT_ALLOWED";

/** ApiError is a failed call: status 0 when the server was never reached. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** Whether the edge refused the credential: the element then waits for a new token. */
  get isAuth(): boolean {
    return this.status === 401 || (this.status === 403 && this.reason === ORIGIN_NOT_ALLOWED);
  }

  /** The detail of the `auth-failed` and `error` events. */
  detail(): { status?: number; reason?: string; message: string } {
    const d: { status?: number; reason?: string; message: string } = { message: this.message };
    if (this.status) d.status = this.status;
    if (this.reason) d.reason = this.reason;
    return d;
  }
}

/** Turns anything a call threw into an ApiError. */
export function asApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new ApiError(0, "", msg);
}

/** Api calls one edge with one token. */
export class Api {
  constructor(
    /** The edge's origin, e.g. `https://oriel.example.com`. */
    readonly server: string,
    private readonly token: string,
    /** The value of `Oriel-Embed-Origin`, or "" to send none. */
    private readonly embedOrigin: string,
  ) {}

  /** GET /v1/{app}. */
  getApp(app: string, signal?: AbortSignal): Promise<App> {
    return this.call<App>("GET", `/v1/${app}`, undefined, signal);
  }

  /** POST /v1/{app}:chartData. */
  chartData(app: string, sheet: string, chart: string, selections: FieldSelection[], signal?: AbortSignal): Promise<ChartData> {
    return this.call<ChartData>("POST", `/v1/${app}:chartData`, {
      chart: { sheet, chart },
      selections: { fields: selections },
      limit: 1000,
    }, signal).then(formatChartData);
  }

  /** POST /v1/{app}:fieldValues. */
  fieldValues(app: string, field: string, selections: FieldSelection[], search: string, signal?: AbortSignal): Promise<FieldValues> {
    const body: Record<string, unknown> = { field, selections: { fields: selections }, limit: 200 };
    if (search) body.search = search;
    return this.call<FieldValues>("POST", `/v1/${app}:fieldValues`, body, signal);
  }

  /** POST /v1/tokens:introspect for the token itself. */
  introspect(signal?: AbortSignal): Promise<{ active?: boolean; principal?: { embedSession?: { expireTime?: string } } }> {
    return this.call("POST", "/v1/tokens:introspect", {}, signal);
  }

  /** GET /embed/v1/tenants/{tenant}/theme. */
  theme(tenant: string, signal?: AbortSignal): Promise<Theme> {
    return this.call<Theme>("GET", `/embed/v1/tenants/${tenant}/theme`, undefined, signal);
  }

  private async call<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.embedOrigin) headers["Oriel-Embed-Origin"] = this.embedOrigin;
    let res: Response;
    try {
      res = await fetch(this.server + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        mode: "cors",
        cache: "no-store",
        signal,
      });
    } catch (err) {
      if (err instanceof DOMException && err.name === "AbortError") throw err;
      // fetch says as little as it can about why: the server is down, or CORS refused us.
      throw new ApiError(0, "", `Could not reach ${this.server}: the network failed or the server refused this origin (CORS).`);
    }
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      // Not JSON: a proxy's error page, say.
    }
    if (!res.ok) {
      const e = (json as { error?: { message?: string; details?: { "@type"?: string; reason?: string }[] } } | undefined)?.error;
      const info = e?.details?.find((d) => typeof d["@type"] === "string" && d["@type"].endsWith("google.rpc.ErrorInfo"));
      throw new ApiError(res.status, info?.reason ?? "", e?.message || `${method} ${path} failed with HTTP ${res.status}`);
    }
    if (json === undefined) throw new ApiError(res.status, "", `${method} ${path}: the answer is not JSON`);
    return json as T;
  }
}
