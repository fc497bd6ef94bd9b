/**
 * Where the incident database lives by default. Kept apart from the store
 * (which loads SQLite) so the CLI can name the path, e.g. to refuse an output
 * file that is the database, without loading it.
 */
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";

/** Where the database lives when `--db` is not given. */
export function defaultDbPath(env: NodeJS.ProcessEnv = process.env, uid = process.geteuid?.(), platform = process.platform): string {
  if (env.HALFOPEN_DB) return env.HALFOPEN_DB;
  if (platform === "win32") return join(env.LOCALAPPDATA ?? join(homedir(), "AppData", "Local"), "halfopen", "incidents.db");
  if (uid === 0) return "/var/lib/halfopen/incidents.db";
  const state = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(homedir(), ".local", "state");
  return join(state, "halfopen", "incidents.db");
}

