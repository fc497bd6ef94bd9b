/**
 * SQLite and file-system failures of the stores (incidents, scan history) as
 * HalfOpenErrors with stable codes. Its own module: both stores use it.
 */
import { ErrorCodes, HalfOpenError } from "../errors.js";

/** Turns a SQLite or fs failure into a HalfOpenError with a stable code. */
export function storeError(e: unknown, path: string, action: string): HalfOpenError {
  if (e instanceof HalfOpenError) return e;
  const code = String((e as { code?: unknown }).code ?? "");
  const message = (e as Error)?.message ?? String(e);
  const say = (c: (typeof ErrorCodes)[keyof typeof ErrorCodes], what: string) => new HalfOpenError(c, `Cannot ${action} ${path}: ${what} (${message})`, { cause: e });
  if (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")) return say(ErrorCodes.DB_CORRUPT, "the file is corrupt or is not a SQLite database; move it aside (nothing was changed) or use --db");
  if (code.startsWith("SQLITE_READONLY") || code === "EROFS" || code === "EACCES" || code === "EPERM") return say(ErrorCodes.DB_READONLY, "it cannot be written (read-only file, directory or file system, or no permission)");
  if (code === "SQLITE_FULL" || code === "ENOSPC" || code === "EDQUOT") return say(ErrorCodes.DB_FULL, "the disk is full");
  if (code.startsWith("SQLITE_CANTOPEN")) return say(ErrorCodes.DB_READONLY, "the file or its directory cannot be opened (permissions, or a read-only file system)");
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return say(ErrorCodes.DB_FAILED, "another process kept the database locked");
  return say(ErrorCodes.DB_FAILED, "the database failed");
}
