/**
 * The SQLite module, loaded when a store is first opened. better-sqlite3 is an
 * optional dependency: it compiles from source at `npm install` (g++, make,
 * python3; never a downloaded binary), and an install without a compiler
 * succeeds without it. Then every store says so with one stable code, and
 * `watch` runs without storing.
 */
import { createRequire } from "node:module";
import type BetterSqlite3 from "better-sqlite3";
import { ErrorCodes, HalfOpenError } from "../errors.js";

export type SqliteDatabase = BetterSqlite3.Database;
type DatabaseConstructor = typeof BetterSqlite3;

let loaded: DatabaseConstructor | undefined;

/** better-sqlite3's Database class, or HALFOPEN_STORE_UNAVAILABLE saying why it is missing and how to get it. */
export function sqlite(): DatabaseConstructor {
  if (loaded) return loaded;
  let Database: DatabaseConstructor;
  try {
    Database = createRequire(import.meta.url)("better-sqlite3") as DatabaseConstructor;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND";
    const why = missing ? "better-sqlite3 is not installed (it builds from source at npm install, and the build failed or was skipped)" : `better-sqlite3 does not load (${(e as Error).message.split("\n")[0]})`;
    throw new HalfOpenError(ErrorCodes.STORE_UNAVAILABLE, `The incident store is unavailable: ${why}; install a C++ compiler (g++, make, python3) and run "npm rebuild better-sqlite3" in halfopen's directory`, { cause: e });
  }
  loaded = Database;
  return Database;
}
