// The demo host page: a user picker, one <oriel-embed>, token refresh and revocation,
// and a log of the element's events. Query parameters: ?user=ID signs in at once,
// ?ttl=SECONDS asks for tokens of that lifetime, ?autorefresh=0 leaves token-expiring
// unanswered (to see token-expired).
(() => {
  "use strict";
  const params = new URLSearchParams(location.search);
  const ttl = parseInt(params.get("ttl") || "", 10);
  const autorefresh = params.get("autorefresh") !== "0";
  const server = document.body.dataset.server || "";
  const EVENTS = ["ready", "selection-changed", "token-expiring", "token-expired", "auth-failed", "error"];

  const $ = (id) => document.getElementById(id);
  const container = $("embed-container");
  const events = $("events");
  let current = null; // the signed-in demo user's id
  let embed = null;

  function setStatus(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.classList.toggle("error", !!isError);
  }

  function logEvent(name, detail) {
    const li = document.createElement("li");
    li.dataset.event = name;
    const strong = document.createElement("strong");
    strong.textContent = name;
    const code = document.createElement("code");
    code.textContent = detail === undefined ? "" : JSON.stringify(detail);
    li.append(strong, " ", code);
    events.append(li);
  }

  async function call(path, body) {
    const resp = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      throw new Error((data.error && data.error.message) || resp.status + " " + resp.statusText);
    }
    return data;
  }

  // fetchToken asks this page's backend for an embed token of user.
  function fetchToken(user) {
    const body = { user };
    if (Number.isFinite(ttl)) body.ttlSeconds = ttl;
    return call("/demo/api/token", body);
  }

  function showToken(t) {
    $("token-expiry").textContent = "Token expires " + new Date(t.expireTime).toLocaleTimeString();
    $("token-expiry").dataset.expireTime = t.expireTime;
  }

  function newEmbed(app) {
    const el = document.createElement("oriel-embed");
    el.id = "embed";
    el.setAttribute("app", app);
    if (server) el.setAttribute("server", server);
    for (const name of EVENTS) {
      el.addEventListener(name, (e) => onEvent(el, name, e.detail));
    }
    container.replaceChildren(el);
    return el;
  }

  // A token shorter-lived than the element's 60 s warning is "expiring" as soon as it is
  // set: refresh at once the first time, then 10 s before each token expires (at least
  // 5 s apart), so that ?ttl=30 refreshes every 20 s rather than in a loop.
  let lastAutoRefresh = 0;
  let refreshTimer = null;

  function onEvent(el, name, detail) {
    logEvent(name, detail);
    if ((name !== "token-expiring" && name !== "token-expired") || el !== embed || !current) return;
    if (!autorefresh) {
      setStatus("The token is " + (name === "token-expired" ? "expired" : "expiring") + "; automatic refresh is off (?autorefresh=0).");
      return;
    }
    if (name === "token-expired") {
      // Missed (a sleeping laptop): the element waits for a token, so get one now.
      clearTimeout(refreshTimer);
      autoRefresh(el);
      return;
    }
    const secondsLeft = detail && typeof detail.secondsLeft === "number" ? detail.secondsLeft : 0;
    // At most one refresh per 5 s, whatever the clocks say (a page's clock ahead of the
    // edge's makes every token look nearly expired).
    const delay = Date.now() - lastAutoRefresh < 10000 ? Math.max(5, secondsLeft - 10) * 1000 : 0;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => autoRefresh(el), delay);
  }

  async function autoRefresh(el) {
    if (el !== embed || !current) return;
    lastAutoRefresh = Date.now();
    try {
      const t = await fetchToken(current);
      await el.setToken(t.token);
      showToken(t);
      setStatus("Token refreshed before it expired; selections kept.");
    } catch (err) {
      setStatus("Could not refresh the token: " + err.message, true);
    }
  }

  async function pick(user) {
    setStatus("Signing in " + user + "…");
    try {
      const t = await fetchToken(user);
      await customElements.whenDefined("oriel-embed");
      current = user;
      clearTimeout(refreshTimer);
      lastAutoRefresh = 0;
      embed = newEmbed(t.app);
      for (const b of document.querySelectorAll("button[data-user]")) {
        b.setAttribute("aria-pressed", String(b.dataset.user === user));
      }
      $("current-user").textContent = t.user.name + " · " + t.tenant.replace("tenants/", "");
      $("current-user").dataset.user = user;
      $("refresh-token").disabled = false;
      $("revoke-token").disabled = false;
      showToken(t);
      await embed.setToken(t.token);
      setStatus("Signed in as " + t.user.name + ": " + t.app + ".");
    } catch (err) {
      setStatus("Could not sign in " + user + ": " + err.message, true);
    }
  }

  async function refresh() {
    if (!current || !embed) return;
    try {
      const t = await fetchToken(current);
      await embed.setToken(t.token);
      showToken(t);
      setStatus("New token set; selections kept.");
    } catch (err) {
      setStatus("Could not refresh the token: " + err.message, true);
    }
  }

  async function revoke() {
    if (!current) return;
    try {
      const r = await call("/demo/api/revoke", { user: current });
      setStatus(r.revoked ? "Every token of " + current + " is revoked: the dashboard's next call is refused."
        : current + " has no token to revoke.");
    } catch (err) {
      setStatus("Could not revoke: " + err.message, true);
    }
  }

  for (const b of document.querySelectorAll("button[data-user]")) {
    b.addEventListener("click", () => pick(b.dataset.user));
  }
  $("refresh-token").addEventListener("click", refresh);
  $("revoke-token").addEventListener("click", revoke);
  // For scripts and browser tests driving the page.
  window.orielDemo = { pick, refresh, revoke };
  if (params.get("user")) pick(params.get("user"));
})();
