// @ts-check
// The page's way to the server. The token comes in the URL's fragment
// (#token=...), which the browser never sends to a server; it is kept in
// sessionStorage (this origin only: scheme, host and port), taken out of the
// address bar, and sent as a bearer header. The event stream gets a
// one-time ticket for each connection (EventSource cannot send a header).

const TOKEN_KEY = "halfopen-token";

export const token = (() => {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem(TOKEN_KEY) || "";
})();

// The URL pasted into a tab that already shows the page changes only the fragment: start again with it.
window.addEventListener("hashchange", () => {
  if (/(?:^#|&)token=/.test(location.hash)) location.reload();
});

/**
 * fetch with this run's token.
 * @param {string} path
 * @param {RequestInit & { headers?: Record<string, string> }} [init]
 */
export const api = (path, init = {}) => fetch(path, { ...init, headers: { ...(init.headers || {}), authorization: `Bearer ${token}` } });

/**
 * A same-origin JSON POST (the only way the server takes an action).
 * @param {string} path
 * @param {unknown} body
 */
export async function postJson(path, body) {
  const res = await api(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { res, body: await res.json().catch(() => ({})) };
}
