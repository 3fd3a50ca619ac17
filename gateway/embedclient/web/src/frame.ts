// The frame page's side of the frame protocol: one <oriel-embed> for the app in the URL,
// driven by the host page through postMessage.
import { EVENTS, OrielEmbed, PROTOCOL } from "./element";

const PATH_RE = /^\/embed\/v1\/tenants\/([^/]+)\/apps\/([^/]+)(?:\/sheets\/([^/]+))?\/?$/;

type HostMessage = { oriel?: number; type?: string; token?: string; field?: string; values?: unknown; toggle?: boolean; theme?: unknown };

/** Boots the frame page: reads the app from the path and waits for the host's messages. */
export function bootFrame(): void {
  const embed = document.createElement("oriel-embed") as OrielEmbed;
  embed.setAttribute("server", location.origin);
  const m = PATH_RE.exec(location.pathname);
  if (m) {
    embed.setAttribute("app", `tenants/${decodeURIComponent(m[1])}/apps/${decodeURIComponent(m[2])}`);
    if (m[3]) embed.setAttribute("sheet", decodeURIComponent(m[3]));
  }
  const parent = window.parent;
  const framed = parent !== window;

  // Events go to the host's origin only, which the first message tells us; until then
  // they wait.
  let hostOrigin = "";
  const pending: Record<string, unknown>[] = [];
  const post = (msg: Record<string, unknown>) => {
    const full = { oriel: PROTOCOL, ...msg };
    if (hostOrigin) parent.postMessage(full, hostOrigin);
    else pending.push(full);
  };
  const postLatest = (type: string, msg: Record<string, unknown>) => {
    // Only the latest state and size matter; drop older ones still waiting.
    for (let i = pending.length - 1; i >= 0; i--) if (pending[i].type === type) pending.splice(i, 1);
    post({ type, ...msg });
  };

  for (const name of EVENTS) {
    embed.addEventListener(name, (e) => post({ type: "event", name, detail: (e as CustomEvent).detail ?? null }));
  }
  new MutationObserver(() => {
    const state = embed.getAttribute("data-state");
    if (state) postLatest("state", { state });
  }).observe(embed, { attributes: true, attributeFilter: ["data-state"] });
  let lastHeight = 0;
  new ResizeObserver(() => {
    const height = Math.ceil(embed.getBoundingClientRect().height);
    if (height !== lastHeight) {
      lastHeight = height;
      postLatest("size", { height });
    }
  }).observe(embed);

  window.addEventListener("message", (e: MessageEvent) => {
    if (!framed || e.source !== parent) return;
    const d = e.data as HostMessage | null;
    if (!d || typeof d !== "object" || d.oriel !== PROTOCOL) return;
    if (!hostOrigin) {
      // An opaque origin ("null") cannot be answered or allowed: ignore it.
      if (!e.origin || e.origin === "null") return;
      hostOrigin = e.origin;
      embed.setEmbedOrigin(hostOrigin);
      for (const msg of pending.splice(0)) parent.postMessage(msg, hostOrigin);
    } else if (e.origin !== hostOrigin) {
      return;
    }
    switch (d.type) {
      case "setToken":
        if (typeof d.token === "string") void embed.setToken(d.token);
        return;
      case "select":
        if (typeof d.field === "string" && Array.isArray(d.values)) void embed.select(d.field, d.values.map(String), { toggle: !!d.toggle });
        return;
      case "clearSelections":
        void embed.clearSelections(typeof d.field === "string" && d.field ? d.field : undefined);
        return;
      case "setTheme":
        if (d.theme && typeof d.theme === "object") embed.setTheme(d.theme);
        return;
    }
  });

  document.body.append(embed);
  const state = embed.getAttribute("data-state");
  if (state) postLatest("state", { state });
  // "loaded" carries nothing secret, and the host's origin is not known yet.
  if (framed) parent.postMessage({ oriel: PROTOCOL, type: "loaded" }, "*");
}
