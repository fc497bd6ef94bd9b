/**
 * One error base for halfopen. Every error has a stable `code` (documented in
 * docs/errors.md) and a message that says what failed and on which value.
 * The CLI maps codes to exit codes (0 ok, 1 failure, 2 bad usage, 3 needs
 * privileges) and prints `halfopen: <message>` without a stack trace.
 *
 * @example
 * ```ts
 * import { HalfOpenError, HalfOpenLimiter } from "halfopen";
 * try { new HalfOpenLimiter({ maxHalfOpen: 0 }) } catch (e) { if (e instanceof HalfOpenError) console.log(e.code) } // HALFOPEN_INVALID_OPTION
 * ```
 */

/** Stable error codes; never renamed once released. */
export const ErrorCodes = {
  /** A command-line value is not valid. Exit code 2. */
  BAD_USAGE: "HALFOPEN_BAD_USAGE",
  /** The operation needs root (or CAP_SYS_ADMIN / CAP_PERFMON). Exit code 3. */
  NEEDS_PRIVILEGES: "HALFOPEN_NEEDS_PRIVILEGES",
  /** tracefs is not mounted and cannot be mounted. Exit code 3. */
  TRACEFS_UNAVAILABLE: "HALFOPEN_TRACEFS_UNAVAILABLE",
  /** The kernel lacks the sock:inet_sock_set_state tracepoint (Linux < 4.16). Exit code 3. */
  TRACEPOINT_MISSING: "HALFOPEN_TRACEPOINT_MISSING",
  /** Setting up or reading the tracefs instance failed. Exit code 1. */
  TRACEFS_FAILED: "HALFOPEN_TRACEFS_FAILED",
  /** A tracefs format description could not be parsed. Exit code 1. */
  BAD_FORMAT: "HALFOPEN_BAD_FORMAT",
  /** A ring-buffer page is malformed. Exit code 1. */
  BAD_PAGE: "HALFOPEN_BAD_PAGE",
  /** No connection source works on this system. Exit code 3. */
  NO_SOURCE: "HALFOPEN_NO_SOURCE",
  /** A library option is out of range (e.g. `maxHalfOpen: 0`). Exit code 2. */
  INVALID_OPTION: "HALFOPEN_INVALID_OPTION",
  /** A connect attempt's AbortSignal fired, while queued or while connecting. Exit code 1. */
  ABORTED: "HALFOPEN_ABORTED",
  /** A connect attempt waited in the limiter's queue longer than `maxQueueMs`. Exit code 1. */
  QUEUE_TIMEOUT: "HALFOPEN_QUEUE_TIMEOUT",
  /** The limiter's queue already holds `maxQueueLength` attempts. Exit code 1. */
  QUEUE_FULL: "HALFOPEN_QUEUE_FULL",
  /** A started connect attempt got no answer within `connectTimeoutMs`. Exit code 1. */
  CONNECT_TIMEOUT: "HALFOPEN_CONNECT_TIMEOUT",
  /** A tool a source needs (netstat, powershell, lsof, ...) is not installed or not on PATH. Exit code 3. */
  TOOL_MISSING: "HALFOPEN_TOOL_MISSING",
  /** A tool a source runs failed, timed out, or printed nothing halfopen can read. Exit code 1. */
  TOOL_FAILED: "HALFOPEN_TOOL_FAILED",
  /** The incident database does not exist yet (nothing was stored at that path). Exit code 1. */
  DB_MISSING: "HALFOPEN_DB_MISSING",
  /** The incident database file is corrupt, or is not a halfopen database. Exit code 1. */
  DB_CORRUPT: "HALFOPEN_DB_CORRUPT",
  /** The incident database file cannot be read (no permission). Exit code 1. */
  DB_UNREADABLE: "HALFOPEN_DB_UNREADABLE",
  /** Another running watch already stores its incidents in this database. Exit code 1. */
  DB_IN_USE: "HALFOPEN_DB_IN_USE",
  /** A `watch --replay` file is not a halfopen record, is malformed, or is of a newer version. Exit code 1. */
  BAD_RECORD: "HALFOPEN_BAD_RECORD",
  /** Standard output (or the file it goes to) failed: the reader closed the pipe (EPIPE) or the disk is full. Exit code 1. */
  OUTPUT_FAILED: "HALFOPEN_OUTPUT_FAILED",
  /** The incident database cannot be written: read-only file, directory or file system. Exit code 1. */
  DB_READONLY: "HALFOPEN_DB_READONLY",
  /** The disk (or quota) holding the incident database is full. Exit code 1. */
  DB_FULL: "HALFOPEN_DB_FULL",
  /** The database was written by a newer halfopen (its schema version is unknown here). Exit code 1. */
  DB_VERSION: "HALFOPEN_DB_VERSION",
  /** Any other database failure (locked too long, I/O error). Exit code 1. */
  DB_FAILED: "HALFOPEN_DB_FAILED",
  /** The SQLite module (better-sqlite3, an optional part built from source at install) is not installed or does not load. Exit code 3. */
  STORE_UNAVAILABLE: "HALFOPEN_STORE_UNAVAILABLE",
  /** No incident with that id, or no process with that pid. Exit code 1. */
  NOT_FOUND: "HALFOPEN_NOT_FOUND",
  /** halfopen refused an action because it would be unsafe (PID 1, itself, its parent, a reused PID). Exit code 1. */
  REFUSED: "HALFOPEN_REFUSED",
  /** An action needs confirmation: stdin is not a terminal and --yes was not given. Exit code 2. */
  NEEDS_CONFIRMATION: "HALFOPEN_NEEDS_CONFIRMATION",
  /** The kernel cannot destroy sockets (CONFIG_INET_DIAG_DESTROY is off), so `close` cannot work. Exit code 3. */
  UNSUPPORTED: "HALFOPEN_UNSUPPORTED",
  /** A scan target or port list is not valid (bad address, prefix or range, reversed range, a name that does not resolve). Exit code 2. */
  BAD_TARGET: "HALFOPEN_BAD_TARGET",
  /** A `scan --resume` journal is not one halfopen wrote, is of a newer version, or covers another scan than the command line. Exit code 1. */
  BAD_RESUME: "HALFOPEN_BAD_RESUME",
  /** An output path (-oX, --record, --db, a journal) names a file the same run reads or writes for something else. Exit code 2. */
  PATH_COLLISION: "HALFOPEN_PATH_COLLISION",
  /** An input (a target list, a journal, a recording) is too large: a line or a count past its cap. Exit code 1. */
  INPUT_TOO_LARGE: "HALFOPEN_INPUT_TOO_LARGE",
  /** A system limit ran out: file descriptors (EMFILE, ENFILE) or memory. Exit code 1. */
  RESOURCE_LIMIT: "HALFOPEN_RESOURCE_LIMIT",
  /** `watch --enforce` cannot hold SYNs here: no root, no native helper, or neither nft's `queue` nor iptables' NFQUEUE. Exit code 3. */
  ENFORCE_UNAVAILABLE: "HALFOPEN_ENFORCE_UNAVAILABLE",
  /** `watch --enforce`: another program (another enforcing watch) holds the NFQUEUE queue. Exit code 1. */
  ENFORCE_BUSY: "HALFOPEN_ENFORCE_BUSY",
  /** Dashboard (HTTP 403): the request's Host is not the dashboard's address (DNS rebinding). */
  UI_BAD_HOST: "HALFOPEN_UI_BAD_HOST",
  /** Dashboard (HTTP 401): a token was sent where it must never go (the URL's query), or is not this run's. */
  UI_BAD_TOKEN: "HALFOPEN_UI_BAD_TOKEN",
  /** Dashboard (HTTP 401): no valid token (Authorization: Bearer) or event-stream ticket. */
  UI_NO_TOKEN: "HALFOPEN_UI_NO_TOKEN",
  /** Dashboard (HTTP 403): an action without the page's own Origin (cross-site request). */
  UI_BAD_ORIGIN: "HALFOPEN_UI_BAD_ORIGIN",
  /** Dashboard (HTTP 415): an action whose body is not JSON. */
  UI_BAD_BODY: "HALFOPEN_UI_BAD_BODY",
  /** Dashboard (HTTP 400): a malformed request (bad JSON, bad parameter). */
  UI_BAD_REQUEST: "HALFOPEN_UI_BAD_REQUEST",
  /** Dashboard (HTTP 404): no such path. */
  UI_NOT_FOUND: "HALFOPEN_UI_NOT_FOUND",
  /** Dashboard (HTTP 403): the dashboard is read-only (no kill, no scans). */
  UI_READ_ONLY: "HALFOPEN_UI_READ_ONLY",
  /** Dashboard (HTTP 503): too many event streams at once. */
  UI_BUSY: "HALFOPEN_UI_BUSY",
  /** Dashboard (HTTP 500): the dashboard failed to answer (watch's output says why). */
  UI_FAILED: "HALFOPEN_UI_FAILED",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Exit code the CLI uses for each error code. */
export const exitCodeFor: Record<ErrorCode, number> = {
  HALFOPEN_BAD_USAGE: 2,
  HALFOPEN_NEEDS_PRIVILEGES: 3,
  HALFOPEN_TRACEFS_UNAVAILABLE: 3,
  HALFOPEN_TRACEPOINT_MISSING: 3,
  HALFOPEN_TRACEFS_FAILED: 1,
  HALFOPEN_BAD_FORMAT: 1,
  HALFOPEN_BAD_PAGE: 1,
  HALFOPEN_NO_SOURCE: 3,
  HALFOPEN_INVALID_OPTION: 2,
  HALFOPEN_ABORTED: 1,
  HALFOPEN_QUEUE_TIMEOUT: 1,
  HALFOPEN_QUEUE_FULL: 1,
  HALFOPEN_CONNECT_TIMEOUT: 1,
  HALFOPEN_TOOL_MISSING: 3,
  HALFOPEN_TOOL_FAILED: 1,
  HALFOPEN_DB_MISSING: 1,
  HALFOPEN_DB_CORRUPT: 1,
  HALFOPEN_DB_UNREADABLE: 1,
  HALFOPEN_DB_IN_USE: 1,
  HALFOPEN_OUTPUT_FAILED: 1,
  HALFOPEN_BAD_RECORD: 1,
  HALFOPEN_DB_READONLY: 1,
  HALFOPEN_DB_FULL: 1,
  HALFOPEN_DB_VERSION: 1,
  HALFOPEN_DB_FAILED: 1,
  HALFOPEN_STORE_UNAVAILABLE: 3,
  HALFOPEN_NOT_FOUND: 1,
  HALFOPEN_REFUSED: 1,
  HALFOPEN_NEEDS_CONFIRMATION: 2,
  HALFOPEN_UNSUPPORTED: 3,
  HALFOPEN_BAD_TARGET: 2,
  HALFOPEN_BAD_RESUME: 1,
  HALFOPEN_PATH_COLLISION: 2,
  HALFOPEN_INPUT_TOO_LARGE: 1,
  HALFOPEN_RESOURCE_LIMIT: 1,
  HALFOPEN_ENFORCE_UNAVAILABLE: 3,
  HALFOPEN_ENFORCE_BUSY: 1,
  HALFOPEN_UI_BAD_HOST: 1,
  HALFOPEN_UI_BAD_TOKEN: 1,
  HALFOPEN_UI_NO_TOKEN: 1,
  HALFOPEN_UI_BAD_ORIGIN: 1,
  HALFOPEN_UI_BAD_BODY: 1,
  HALFOPEN_UI_BAD_REQUEST: 1,
  HALFOPEN_UI_NOT_FOUND: 1,
  HALFOPEN_UI_READ_ONLY: 1,
  HALFOPEN_UI_BUSY: 1,
  HALFOPEN_UI_FAILED: 1,
};

/** Base class of every error halfopen throws on purpose. */
export class HalfOpenError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HalfOpenError";
    this.code = code;
  }
  /** The process exit code the CLI should use for this error. */
  get exitCode(): number {
    return exitCodeFor[this.code];
  }
}
