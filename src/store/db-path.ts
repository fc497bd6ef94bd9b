/**
 * Where the incident database lives by default. Kept apart from the store
 * (which loads SQLite) so the CLI can name the path, e.g. to refuse an output
 * file that is the database, without loading it.
 */
import { hostPlatform } from "../platform/select.js";

/** Where the database lives when `--db` is not given: HALFOPEN_DB, else the host platform's place for this user. */
export function defaultDbPath(env: NodeJS.ProcessEnv = process.env, uid = process.geteuid?.(), platform?: NodeJS.Platform): string {
  if (env.HALFOPEN_DB) return env.HALFOPEN_DB;
  return hostPlatform(platform).defaultDbPath(env, uid);
}
