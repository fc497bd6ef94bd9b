/**
 * The dashboard's HTTP server (fastify): the page, its JSON API and the
 * live event stream. Built without listening, so tests drive it through
 * `inject()`; the watch sink (cli/watch/ui-sink.ts) listens.
 *
 * Security, for a page on localhost that a hostile web page in the same
 * browser can reach (DNS rebinding, CSRF):
 *   - every request's Host must be one of ours (loopback names and the port),
 *     checked in the first hook, for every path, before any route runs;
 *   - a random token per run: `/?token=T` sets an HttpOnly SameSite=Strict
 *     cookie and redirects to `/`; every other request needs the cookie (or
 *     `Authorization: Bearer T` for scripts);
 *   - actions are POST with a JSON body and a same-origin `Origin`; no CORS
 *     header is ever sent;
 *   - CSP without inline script or style, nosniff, no framing, no referrer.
 * Refusals are JSON `{ error: { code, message } }` with a 4xx status.
 *
 * Routes (docs/dashboard.md): GET / (the page), /static/*, /vendor/uplot/*,
 * /api/snapshot, /api/events (server-sent events: a snapshot, then
 * changes; `Last-Event-ID` resumes), /api/incidents[.csv], /api/incidents/:id,
 * POST /api/processes/:pid/kill, GET /api/scans, /api/scans/:id,
 * /api/scans/stored/:id, POST /api/scans (start), POST /api/scans/stop.
 */
import { timingSafeEqual } from "node:crypto";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import { parse as parseCookie, serialize as serializeCookie } from "cookie";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { DashboardEvent, DashboardModel } from "./model.js";

export const COOKIE = "halfopen_ui";

/** Where the page's files are: web/ at the package root (from src/dashboard or dist/dashboard). */
export const WEB_ROOT = fileURLToPath(new URL("../../web/", import.meta.url));
const UPLOT_ROOT = dirname(createRequire(import.meta.url).resolve("uplot/dist/uPlot.iife.min.js"));

export const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

export interface KillRequest {
  pid: number;
  name: string;
  startTime: number;
  signal: "TERM" | "KILL";
}

export interface DashboardActions {
  /** End a process if it is still the one named (pid, name, start time); resolves with what happened. */
  kill(request: KillRequest): Promise<{ result: "exited" | "running"; signal: string; waitedMs: number; name: string; pid: number }>;
}

/** Scans from the page (dashboard/scans.ts). */
export interface ScanActions {
  readonly running: boolean;
  readonly storing: boolean;
  readonly defaultMaxHalfOpen: number;
  /** The ports a scan checks when the page names none. */
  readonly defaultPorts: readonly number[];
  /** Checks the body, resolves the targets and starts; rejects with a HalfOpenError (its code says why). */
  start(body: unknown): Promise<{ id: number; series: number; total: number }>;
  stop(): { stopped: boolean; series?: number };
  stored(limit?: number): object[];
  storedScan(id: number): object | undefined;
}

export interface IncidentSource {
  list(filter: { since?: number; until?: number; limit?: number }): Record<string, unknown>[];
  get(id: number): Record<string, unknown> | undefined;
  csv(list: Record<string, unknown>[]): string;
}

export interface DashboardServerOptions {
  model: DashboardModel;
  token: string;
  /** The Host header values accepted ("127.0.0.1:8080", "localhost:8080", "[::1]:8080"). Read per request: the port is known after listening. */
  hosts: () => ReadonlySet<string>;
  /** New events, as the model makes them; returns the unsubscribe function. */
  subscribe: (listener: (event: DashboardEvent) => void) => () => void;
  incidents: IncidentSource;
  actions?: DashboardActions;
  /** Scans from the page; absent, the page has no scans panel. */
  scans?: ScanActions;
  /** A comment line on idle streams this often. Default 15 s. */
  heartbeatMs?: number;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const sameToken = (a: string | undefined, b: string) => {
  if (a === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export function loopbackHosts(port: number, extra: readonly string[] = []): Set<string> {
  return new Set(["127.0.0.1", "localhost", "[::1]", ...extra].map((h) => `${h}:${port}`));
}

/** The dashboard app, not listening. */
export async function createDashboardServer(o: DashboardServerOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024, return503OnClosing: false });

  const refuse = (reply: FastifyReply, r: Refusal) => reply.code(r.status).type("application/json; charset=utf-8").send({ error: { code: r.code, message: r.message } });

  app.addHook("onRequest", async (request, reply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    const host = request.headers.host;
    if (!host || !o.hosts().has(host.toLowerCase()))
      return refuse(reply, new Refusal(403, "HALFOPEN_UI_BAD_HOST", `Host "${host ?? ""}" is not this dashboard's address; open the URL halfopen watch printed (a page that reaches this port under another name is refused: DNS rebinding)`));
    const url = new URL(request.url, "http://x");
    if (request.method === "GET" && url.pathname === "/" && url.searchParams.has("token")) {
      if (!sameToken(url.searchParams.get("token") ?? undefined, o.token)) return refuse(reply, new Refusal(401, "HALFOPEN_UI_BAD_TOKEN", "The token in the URL is not this run's; open the URL halfopen watch printed"));
      reply.header("set-cookie", serializeCookie(COOKIE, o.token, { httpOnly: true, sameSite: "strict", path: "/" }));
      return reply.code(303).header("location", "/").send();
    }
    const cookie = parseCookie(request.headers.cookie ?? "")[COOKIE];
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1];
    if (!sameToken(cookie, o.token) && !sameToken(bearer, o.token))
      return refuse(reply, new Refusal(401, "HALFOPEN_UI_NO_TOKEN", "No valid token: open the URL with ?token= that halfopen watch printed (it sets a cookie), or send Authorization: Bearer TOKEN"));
    if (request.method !== "GET" && request.method !== "HEAD") {
      const origin = request.headers.origin;
      if (origin !== `http://${host}`) return refuse(reply, new Refusal(403, "HALFOPEN_UI_BAD_ORIGIN", `Actions need an Origin header of http://${host} (got ${origin === undefined ? "none" : JSON.stringify(origin)}): cross-site requests are refused`));
      if (!/^application\/json\s*(;|$)/i.test(request.headers["content-type"] ?? "")) return refuse(reply, new Refusal(415, "HALFOPEN_UI_BAD_BODY", "Actions take a JSON body (Content-Type: application/json)"));
    }
    return undefined;
  });
  app.addHook("onSend", async (request, reply, payload) => {
    if (request.url.startsWith("/api/")) reply.header("cache-control", "no-store");
    return payload;
  });
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    const code = status === 500 ? "HALFOPEN_UI_FAILED" : "HALFOPEN_UI_BAD_REQUEST";
    return refuse(reply, new Refusal(status, code, status === 500 ? "The dashboard failed to answer; see watch's output" : error.message));
  });
  app.setNotFoundHandler((request, reply) => refuse(reply, new Refusal(404, "HALFOPEN_UI_NOT_FOUND", `No ${request.method} ${new URL(request.url, "http://x").pathname} here`)));

  await app.register(fastifyStatic, { root: WEB_ROOT, prefix: "/static/", index: false, wildcard: true });
  await app.register(fastifyStatic, { root: UPLOT_ROOT, prefix: "/vendor/uplot/", decorateReply: false, index: false, allowedPath: (path) => path === "/uPlot.iife.min.js" || path === "/uPlot.min.css" });

  app.get("/", (_request, reply) => reply.type("text/html; charset=utf-8").sendFile("index.html"));

  app.get("/favicon.ico", (_request, reply) => reply.code(204).send());
  app.get("/api/snapshot", async () => o.model.snapshot());

  app.get("/api/events", (request, reply) => {
    const header = request.headers["last-event-id"];
    const query = (request.query as Record<string, string | undefined>).lastEventId;
    const lastId = Number(typeof header === "string" ? header : query);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { ...SECURITY_HEADERS, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
    const send = (e: DashboardEvent) => res.write(`id: ${e.id}\nevent: ${e.record.type}\ndata: ${JSON.stringify(e.record)}\n\n`);
    // A resume gets what it missed; a first connection, or one too far behind, a snapshot.
    const missed = Number.isInteger(lastId) && (typeof header === "string" || query !== undefined) ? o.model.since(lastId) : undefined;
    if (missed) for (const e of missed) send(e);
    else {
      const s = o.model.snapshot();
      res.write(`id: ${s.id}\nevent: snapshot\ndata: ${JSON.stringify(s)}\n\n`);
    }
    const unsubscribe = o.subscribe(send);
    const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), o.heartbeatMs ?? 15_000);
    res.on("close", () => {
      clearInterval(heartbeat);
      unsubscribe();
    });
  });

  const timeParam = (v: unknown, name: string) => {
    if (v === undefined || v === "") return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw Object.assign(new Error(`Cannot use ${name}="${String(v)}": expected ms since the epoch`), { statusCode: 400 });
    return n;
  };
  const filterOf = (q: Record<string, unknown>) => {
    const since = timeParam(q.since, "since");
    const until = timeParam(q.until, "until");
    const limit = timeParam(q.limit, "limit");
    return { ...(since === undefined ? {} : { since }), ...(until === undefined ? {} : { until }), limit: limit ?? 200 };
  };
  app.get("/api/incidents", async (request) => ({ incidents: o.incidents.list(filterOf(request.query as Record<string, unknown>)) }));
  app.get("/api/incidents.csv", async (request, reply) => {
    const list = o.incidents.list(filterOf(request.query as Record<string, unknown>));
    return reply.type("text/csv; charset=utf-8").header("content-disposition", 'attachment; filename="incidents.csv"').send(o.incidents.csv(list));
  });
  app.get("/api/incidents/:id", async (request, reply) => {
    const id = Number((request.params as { id: string }).id);
    const found = Number.isInteger(id) && id > 0 ? o.incidents.get(id) : undefined;
    if (!found) return refuse(reply, new Refusal(404, "HALFOPEN_NOT_FOUND", `No incident ${(request.params as { id: string }).id}`));
    return found;
  });

  app.post("/api/processes/:pid/kill", async (request, reply) => {
    const pid = Number((request.params as { pid: string }).pid);
    const body = request.body as Partial<KillRequest> | null;
    if (!Number.isInteger(pid) || pid < 1) return refuse(reply, new Refusal(400, "HALFOPEN_UI_BAD_BODY", "Expected a process id in the path"));
    if (!body || typeof body !== "object" || typeof body.name !== "string" || !Number.isInteger(body.startTime) || (body.signal !== undefined && body.signal !== "TERM" && body.signal !== "KILL"))
      return refuse(reply, new Refusal(400, "HALFOPEN_UI_BAD_BODY", 'Expected { "name": string, "startTime": integer, "signal": "TERM" | "KILL" }: the process as the page showed it, so a reused pid is never signalled'));
    if (!o.actions) return refuse(reply, new Refusal(409, "HALFOPEN_UNSUPPORTED", "This dashboard shows a replay: there is no live process to end"));
    try {
      return await o.actions.kill({ pid, name: body.name, startTime: body.startTime as number, signal: body.signal ?? "TERM" });
    } catch (e) {
      const code = (e as { code?: string }).code ?? "HALFOPEN_UI_FAILED";
      const status = code === "HALFOPEN_NOT_FOUND" ? 404 : code === "HALFOPEN_NEEDS_PRIVILEGES" ? 403 : 409;
      return refuse(reply, new Refusal(status, code, (e as Error).message));
    }
  });
  const idParam = (request: FastifyRequest) => {
    const text = (request.params as { id: string }).id;
    const id = Number(text);
    return Number.isInteger(id) && id > 0 ? id : undefined;
  };
  const noScans = () => new Refusal(409, "HALFOPEN_UNSUPPORTED", "This dashboard cannot scan");
  app.get("/api/scans", async () =>
    o.scans
      ? { available: true, running: o.scans.running, storing: o.scans.storing, defaults: { maxHalfOpen: o.scans.defaultMaxHalfOpen, ports: o.scans.defaultPorts }, scans: o.model.scans(), stored: o.scans.stored() }
      : { available: false, running: false, storing: false, scans: o.model.scans(), stored: [] },
  );
  app.get("/api/scans/stored/:id", async (request, reply) => {
    const id = idParam(request);
    const found = id === undefined ? undefined : o.scans?.storedScan(id);
    if (!found) return refuse(reply, new Refusal(404, "HALFOPEN_NOT_FOUND", `No stored scan ${(request.params as { id: string }).id}`));
    return found;
  });
  app.get("/api/scans/:id", async (request, reply) => {
    const id = idParam(request);
    const found = id === undefined ? undefined : o.model.scan(id);
    if (!found) return refuse(reply, new Refusal(404, "HALFOPEN_NOT_FOUND", `No scan ${(request.params as { id: string }).id} in this run (stored scans are under /api/scans/stored/)`));
    return found;
  });
  app.post("/api/scans", async (request, reply) => {
    if (!o.scans) return refuse(reply, noScans());
    try {
      const started = await o.scans.start(request.body);
      return reply.code(202).send(started);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === undefined || !code.startsWith("HALFOPEN_")) throw e;
      const status = code === "HALFOPEN_REFUSED" || code === "HALFOPEN_NEEDS_CONFIRMATION" ? 409 : 400;
      return refuse(reply, new Refusal(status, code, (e as Error).message));
    }
  });
  app.post("/api/scans/stop", async (_request, reply) => {
    if (!o.scans) return refuse(reply, noScans());
    return o.scans.stop();
  });
  return app;
}

export type { FastifyRequest };
export const WEB_FILES = ["index.html", "app.js", "app.css"].map((f) => join(WEB_ROOT, f));
