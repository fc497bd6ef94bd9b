/**
 * The dashboard's HTTP server (fastify): the page, its JSON API and the
 * live event stream. Built without listening, so tests drive it through
 * `inject()`; the watch sink (cli/watch/ui-sink.ts) listens.
 *
 * Security, for a page on localhost that a hostile web page in the same
 * browser, and any other local user, can reach (DNS rebinding, CSRF, a
 * server of their own on another loopback port):
 *   - every request's Host must be one of ours (loopback names and the port),
 *     checked in the first hook, for every path, before any route runs;
 *   - a random token per run travels only in the URL's fragment
 *     (`/#token=T`), which browsers never send to any server; the page keeps
 *     it in sessionStorage (per origin: scheme, host and port) and sends it as
 *     `Authorization: Bearer T`. No cookie is ever set: browsers send
 *     cookies to every port of a host, so a cookie would hand the secret to
 *     any web server another local user runs on 127.0.0.1;
 *   - the event stream (EventSource cannot send headers) takes a one-time
 *     ticket from `POST /api/tickets`, spent when the stream opens and
 *     worthless 30 s after it was issued;
 *   - actions are POST with a JSON body and a same-origin `Origin`; no CORS
 *     header is ever sent; a read-only dashboard has none;
 *   - the page's files (no data in them) are served without the token;
 *   - CSP without inline script or style, nosniff, no framing, no referrer.
 * Memory: the event stream drops a client whose unsent data passes
 * `maxBufferedBytes` (the browser reconnects and resumes), serves at most
 * `maxClients` streams, and answers a resume that would send more than
 * `maxResumeBytes` with a snapshot.
 * Refusals are JSON `{ error: { code, message } }` with a 4xx status
 * (`httpStatusOf`, one map for every code).
 *
 * Routes (docs/dashboard.md): GET / (the page), /static/*, /vendor/uplot/*,
 * /api/snapshot, POST /api/tickets, /api/events?ticket= (server-sent
 * events: a snapshot, then changes; `Last-Event-ID` resumes),
 * /api/incidents[.csv], /api/incidents/:id, POST /api/processes/:pid/kill,
 * GET /api/scans, /api/scans/:id, /api/scans/stored/:id, POST /api/scans
 * (start), POST /api/scans/stop.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { dirname } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { ErrorCodes } from "../errors.js";
import type { DashboardEvent, DashboardModel } from "./model.js";

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

/** The HTTP status of every code the dashboard answers with (one map for all routes). */
export function httpStatusOf(code: string): number {
  switch (code) {
    case ErrorCodes.UI_BAD_TOKEN:
    case ErrorCodes.UI_NO_TOKEN:
      return 401;
    case ErrorCodes.UI_BAD_HOST:
    case ErrorCodes.UI_BAD_ORIGIN:
    case ErrorCodes.UI_READ_ONLY:
    case ErrorCodes.NEEDS_PRIVILEGES:
      return 403;
    case ErrorCodes.UI_NOT_FOUND:
    case ErrorCodes.NOT_FOUND:
      return 404;
    case ErrorCodes.UI_BAD_BODY:
      return 415;
    case ErrorCodes.REFUSED:
    case ErrorCodes.NEEDS_CONFIRMATION:
    case ErrorCodes.UNSUPPORTED:
      return 409;
    case ErrorCodes.UI_BUSY:
      return 503;
    case ErrorCodes.UI_FAILED:
      return 500;
    default:
      return 400;
  }
}

export interface KillRequest {
  pid: number;
  name: string;
  startTime: number;
  signal: "TERM" | "KILL";
}

export interface DashboardActions {
  /** End a process this watch saw, if it is still the one named (pid, name, start time); resolves with what happened. */
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

/** The incident reader the dashboard is built with: stored incidents, else this run's. */
export interface IncidentSource {
  list(filter: { since?: number; until?: number; limit?: number }): object[];
  get(id: number): object | undefined;
  /** The incidents the filter selects, as `halfopen incidents --csv` writes them. */
  csv(filter: { since?: number; until?: number; limit?: number }): string;
}

export interface DashboardServerOptions {
  model: DashboardModel;
  token: string;
  /** The Host header values accepted ("127.0.0.1:8080", "localhost:8080", "[::1]:8080"). Read per request: the port is known after listening. */
  hosts: () => ReadonlySet<string>;
  /** New events, as the model makes them; returns the unsubscribe function. */
  subscribe: (listener: (event: DashboardEvent) => void) => () => void;
  incidents: IncidentSource;
  /** Absent: a replay, nothing to end. */
  actions?: DashboardActions;
  /** Scans from the page; absent, the page has no scans panel. */
  scans?: ScanActions;
  /** No action at all (no kill, no scans), whatever was passed: `--ui-read-only`, the default with `--ui-allow-remote`. */
  readOnly?: boolean;
  /** Served over TLS (the Origin of actions is https://). */
  https?: { key: string | Buffer; cert: string | Buffer };
  /** A comment line on idle streams this often. Default 15 s. */
  heartbeatMs?: number;
  /** Event streams at once; more are refused with 503 HALFOPEN_UI_BUSY. Default 16. */
  maxClients?: number;
  /** A stream whose unsent data passes this is dropped (the browser reconnects and resumes). Default 4 MiB. */
  maxBufferedBytes?: number;
  /** A resume that would send more than this gets a snapshot instead. Default 1 MiB. */
  maxResumeBytes?: number;
}

class Refusal extends Error {
  readonly status: number;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.status = httpStatusOf(code);
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

/** Paths served without the token: the page and its files, which hold no data. */
const isPublic = (path: string) => path === "/" || path === "/favicon.ico" || path.startsWith("/static/") || path.startsWith("/vendor/uplot/");

const TICKET_MS = 30_000;
const MAX_TICKETS = 64;

/** What the route groups share: the options, the app, what the dashboard may do, and how it refuses. */
interface Context {
  o: DashboardServerOptions;
  app: FastifyInstance;
  /** Absent when read-only or a replay. */
  actions?: DashboardActions;
  /** Absent when read-only or without scans. */
  scans?: ScanActions;
  /** Event-stream tickets and when each stops being good (ms since the epoch). */
  tickets: Map<string, number>;
}

const refuse = (reply: FastifyReply, r: Refusal) => reply.code(r.status).type("application/json; charset=utf-8").send({ error: { code: r.code, message: r.message } });

/** A decimal id in the path (no sign, exponent, hex or leading zero), else undefined. */
const idParam = (request: FastifyRequest, name = "id") => {
  const text = (request.params as Record<string, string>)[name] ?? "";
  return /^[1-9]\d{0,9}$/.test(text) ? Number(text) : undefined;
};

/** The dashboard app, not listening. */
export async function createDashboardServer(o: DashboardServerOptions): Promise<FastifyInstance> {
  const app = (o.https ? Fastify({ logger: false, bodyLimit: 16 * 1024, return503OnClosing: false, https: o.https }) : Fastify({ logger: false, bodyLimit: 16 * 1024, return503OnClosing: false })) as unknown as FastifyInstance;
  const ctx: Context = { o, app, tickets: new Map(), ...(o.readOnly || !o.actions ? {} : { actions: o.actions }), ...(o.readOnly || !o.scans ? {} : { scans: o.scans }) };
  guard(ctx);
  await app.register(fastifyStatic, { root: WEB_ROOT, prefix: "/static/", index: false, wildcard: true });
  await app.register(fastifyStatic, { root: UPLOT_ROOT, prefix: "/vendor/uplot/", decorateReply: false, index: false, allowedPath: (path) => path === "/uPlot.iife.min.js" || path === "/uPlot.min.css" });

  app.get("/", (_request, reply) => reply.type("text/html; charset=utf-8").sendFile("index.html"));

  app.get("/favicon.ico", (_request, reply) => reply.code(204).send());
  readRoutes(ctx);
  eventStream(ctx);
  actionRoutes(ctx);
  return app;
}

/** Every request: security headers, the Host check, the token (or a ticket for the stream), same-origin JSON for actions; refusals as JSON. */
function guard({ o, app, tickets }: Context): void {
  const scheme = o.https ? "https" : "http";
  app.addHook("onRequest", async (request, reply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    const host = request.headers.host;
    if (!host || !o.hosts().has(host.toLowerCase()))
      return refuse(reply, new Refusal(ErrorCodes.UI_BAD_HOST, `Host "${(host ?? "").slice(0, 100)}" is not this dashboard's address; open the URL halfopen watch printed (a page that reaches this port under another name is refused: DNS rebinding)`));
    const url = new URL(request.url, "http://x");
    if (url.searchParams.has("token"))
      return refuse(reply, new Refusal(ErrorCodes.UI_BAD_TOKEN, "The token goes after # in the URL (/#token=...), never in the query, so it is never sent to a server; open the URL halfopen watch printed"));
    if ((request.method === "GET" || request.method === "HEAD") && isPublic(url.pathname)) return undefined;
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1];
    let allowed = sameToken(bearer, o.token);
    if (!allowed && url.pathname === "/api/events" && request.method === "GET") {
      const ticket = url.searchParams.get("ticket") ?? "";
      const expires = tickets.get(ticket);
      tickets.delete(ticket); // spent, whatever happens next
      allowed = expires !== undefined && expires > Date.now();
    }
    if (!allowed) return refuse(reply, new Refusal(ErrorCodes.UI_NO_TOKEN, "No valid token: open the URL halfopen watch printed (the token is after #), or send Authorization: Bearer TOKEN"));
    if (request.method !== "GET" && request.method !== "HEAD") {
      const origin = request.headers.origin;
      if (origin !== `${scheme}://${host}`) return refuse(reply, new Refusal(ErrorCodes.UI_BAD_ORIGIN, `Actions need an Origin header of ${scheme}://${host} (got ${origin === undefined ? "none" : JSON.stringify(origin.slice(0, 100))}): cross-site requests are refused`));
      if (!/^application\/json\s*(;|$)/i.test(request.headers["content-type"] ?? "")) return refuse(reply, new Refusal(ErrorCodes.UI_BAD_BODY, "Actions take a JSON body (Content-Type: application/json)"));
    }
    return undefined;
  });
  app.addHook("onSend", async (request, reply, payload) => {
    if (request.url.startsWith("/api/")) reply.header("cache-control", "no-store");
    return payload;
  });
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) return refuse(reply, new Refusal(ErrorCodes.UI_FAILED, "The dashboard failed to answer; see watch's output"));
    return reply.code(status).type("application/json; charset=utf-8").send({ error: { code: ErrorCodes.UI_BAD_REQUEST, message: error.message } });
  });
  app.setNotFoundHandler((request, reply) => refuse(reply, new Refusal(ErrorCodes.UI_NOT_FOUND, `No ${request.method} ${new URL(request.url, "http://x").pathname.slice(0, 200)} here`)));

}

/** The snapshot and the incidents. */
function readRoutes({ o, app, actions, scans }: Context): void {
  app.get("/api/snapshot", async () => ({ ...o.model.snapshot(), actions: { kill: actions !== undefined, scans: scans !== undefined }, readOnly: o.readOnly === true }));

  const timeParam = (v: unknown, name: string) => {
    if (v === undefined || v === "") return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw Object.assign(new Error(`Cannot use ${name}="${String(v).slice(0, 100)}": expected ms since the epoch`), { statusCode: 400 });
    return n;
  };
  const filterOf = (q: Record<string, unknown>) => {
    const since = timeParam(q.since, "since");
    const until = timeParam(q.until, "until");
    const limit = timeParam(q.limit, "limit");
    return { ...(since === undefined ? {} : { since }), ...(until === undefined ? {} : { until }), limit: Math.min(limit ?? 200, 10_000) };
  };
  app.get("/api/incidents", async (request) => ({ incidents: o.incidents.list(filterOf(request.query as Record<string, unknown>)) }));
  app.get("/api/incidents.csv", async (request, reply) => {
    return reply.type("text/csv; charset=utf-8").header("content-disposition", 'attachment; filename="incidents.csv"').send(o.incidents.csv(filterOf(request.query as Record<string, unknown>)));
  });
  app.get("/api/incidents/:id", async (request, reply) => {
    const id = idParam(request);
    const found = id === undefined ? undefined : o.incidents.get(id);
    if (!found) return refuse(reply, new Refusal(ErrorCodes.NOT_FOUND, `No incident ${(request.params as { id: string }).id.slice(0, 40)}`));
    return found;
  });

}

/** Tickets and the server-sent event stream, with its bounds (clients, unsent bytes, resume size). */
function eventStream({ o, app, actions, scans, tickets }: Context): void {
  let clients = 0;
  app.post("/api/tickets", async () => {
    const now = Date.now();
    for (const [t, expires] of tickets) if (expires <= now) tickets.delete(t);
    while (tickets.size >= MAX_TICKETS) tickets.delete(tickets.keys().next().value as string);
    const ticket = randomBytes(18).toString("base64url");
    tickets.set(ticket, now + TICKET_MS);
    return { ticket, expiresInMs: TICKET_MS };
  });

  const maxBuffered = o.maxBufferedBytes ?? 4 * 1024 * 1024;
  const maxResume = o.maxResumeBytes ?? 1024 * 1024;
  app.get("/api/events", (request, reply) => {
    if (request.method === "HEAD") return reply.code(200).type("text/event-stream; charset=utf-8").send();
    if (clients >= (o.maxClients ?? 16)) return refuse(reply, new Refusal(ErrorCodes.UI_BUSY, `The dashboard already serves ${clients} event streams; close a tab and reload`));
    const header = request.headers["last-event-id"];
    const query = (request.query as Record<string, string | undefined>).lastEventId;
    const lastId = Number(typeof header === "string" ? header : query);
    reply.hijack();
    const res = reply.raw;
    clients++;
    // The stream is long-lived: the server's idle timeout does not apply; the heartbeat keeps it going, the byte cap bounds it.
    request.raw.socket.setTimeout(0);
    res.writeHead(200, { ...SECURITY_HEADERS, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
    let open = true;
    const write = (chunk: string) => {
      if (!open) return;
      res.write(chunk);
      // A client that does not read: drop it before its backlog grows (it resumes from Last-Event-ID or a snapshot).
      if (res.writableLength > maxBuffered) {
        open = false;
        res.destroy();
      }
    };
    const send = (e: DashboardEvent) => write(`id: ${e.id}\nevent: ${e.record.type}\ndata: ${o.model.json(e)}\n\n`);
    // A resume gets what it missed; a first connection, or one too far behind, a snapshot.
    const missed = Number.isInteger(lastId) && (typeof header === "string" || query !== undefined) ? o.model.since(lastId, maxResume) : undefined;
    if (missed) for (const e of missed) send(e);
    else {
      const s = o.model.snapshot();
      write(`id: ${s.id}\nevent: snapshot\ndata: ${JSON.stringify({ ...s, actions: { kill: actions !== undefined, scans: scans !== undefined }, readOnly: o.readOnly === true })}\n\n`);
    }
    const unsubscribe = o.subscribe(send);
    const heartbeat = setInterval(() => write(": keep-alive\n\n"), o.heartbeatMs ?? 15_000);
    res.on("close", () => {
      open = false;
      clients--;
      clearInterval(heartbeat);
      unsubscribe();
    });
  });

}

/** Ending a process and the scans: refused when read-only, a replay, or without scans. */
function actionRoutes({ o, app, actions, scans }: Context): void {
  app.post("/api/processes/:pid/kill", async (request, reply) => {
    const pid = idParam(request, "pid");
    const body = request.body as Partial<KillRequest> | null;
    if (o.readOnly) return refuse(reply, new Refusal(ErrorCodes.UI_READ_ONLY, "This dashboard is read-only (--ui-read-only, the default with --ui-allow-remote): it ends no process"));
    if (pid === undefined) return refuse(reply, new Refusal(ErrorCodes.UI_BAD_REQUEST, "Expected a process id in the path, in decimal digits"));
    if (!body || typeof body !== "object" || typeof body.name !== "string" || !Number.isSafeInteger(body.startTime) || (body.signal !== undefined && body.signal !== "TERM" && body.signal !== "KILL"))
      return refuse(reply, new Refusal(ErrorCodes.UI_BAD_REQUEST, 'Expected { "name": string, "startTime": integer, "signal": "TERM" | "KILL" }: the process as the page showed it, so a reused pid is never signalled'));
    if (!actions) return refuse(reply, new Refusal(ErrorCodes.UNSUPPORTED, "This dashboard shows a replay: there is no live process to end"));
    try {
      return await actions.kill({ pid, name: body.name, startTime: body.startTime as number, signal: body.signal ?? "TERM" });
    } catch (e) {
      const code = (e as { code?: string }).code ?? ErrorCodes.UI_FAILED;
      return refuse(reply, new Refusal(code.startsWith("HALFOPEN_") ? code : ErrorCodes.UI_FAILED, (e as Error).message));
    }
  });
  const noScans = () => new Refusal(o.readOnly ? ErrorCodes.UI_READ_ONLY : ErrorCodes.UNSUPPORTED, o.readOnly ? "This dashboard is read-only: it starts no scan" : "This dashboard cannot scan");
  app.get("/api/scans", async () =>
    scans
      ? { available: true, running: scans.running, storing: scans.storing, defaults: { maxHalfOpen: scans.defaultMaxHalfOpen, ports: scans.defaultPorts }, scans: o.model.scans(), stored: scans.stored() }
      : { available: false, running: false, storing: false, scans: o.model.scans(), stored: [] },
  );
  app.get("/api/scans/stored/:id", async (request, reply) => {
    const id = idParam(request);
    const found = id === undefined ? undefined : o.scans?.storedScan(id);
    if (!found) return refuse(reply, new Refusal(ErrorCodes.NOT_FOUND, `No stored scan ${(request.params as { id: string }).id.slice(0, 40)}`));
    return found;
  });
  app.get("/api/scans/:id", async (request, reply) => {
    const id = idParam(request);
    const found = id === undefined ? undefined : o.model.scan(id);
    if (!found) return refuse(reply, new Refusal(ErrorCodes.NOT_FOUND, `No scan ${(request.params as { id: string }).id.slice(0, 40)} in this run (stored scans are under /api/scans/stored/)`));
    return found;
  });
  app.post("/api/scans", async (request, reply) => {
    if (!scans) return refuse(reply, noScans());
    try {
      const started = await scans.start(request.body);
      return reply.code(202).send(started);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === undefined || !code.startsWith("HALFOPEN_")) throw e;
      return refuse(reply, new Refusal(code, (e as Error).message));
    }
  });
  app.post("/api/scans/stop", async (_request, reply) => {
    if (!scans) return refuse(reply, noScans());
    return scans.stop();
  });
}

export type { FastifyRequest };
