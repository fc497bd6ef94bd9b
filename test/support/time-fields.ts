/**
 * The one convention for times in halfopen's JSON (docs/record-format.md, "Times in JSON"), checked on real output:
 * - a name ending in `Wall` is milliseconds since the epoch (a number);
 * - every other time (`time`, `since`, a name ending in `At`) is milliseconds on CLOCK_MONOTONIC (a number far
 *   below any epoch time);
 * - except the scan wing's older names, kept one release: each must say exactly what its `...Wall` sibling says.
 */
import assert from "node:assert/strict";

/** The names the scan wing used before `...Wall` (epoch numbers, or ISO strings in `scans --json`), kept one release. */
export const LEGACY_WALL_NAMES = ["startedAt", "endedAt", "at", "nextAt"] as const;

// 2001-09-09 to 2286: any epoch time in ms; CLOCK_MONOTONIC would need 31 years of uptime to get here.
const EPOCH_MIN = 1e12;
const EPOCH_MAX = 1e13;

function isTimeName(key: string): boolean {
  return key === "time" || key === "since" || /At$/.test(key);
}

/**
 * Checks every time field in `value`, at any depth. `legacy`: the old names this output may still carry (each next
 * to its `...Wall`). Returns how many fields it checked, so a test can tell it saw some.
 */
export function assertTimeFields(label: string, value: unknown, legacy: readonly string[] = []): number {
  let checked = 0;
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${i}]`));
      return;
    }
    if (v === null || typeof v !== "object") return;
    const o = v as Record<string, unknown>;
    for (const [key, x] of Object.entries(o)) {
      const at = `${label}: ${path}.${key}`;
      if (key.endsWith("Wall")) {
        assert.equal(typeof x, "number", `${at} is a number`);
        assert.ok((x as number) > EPOCH_MIN && (x as number) < EPOCH_MAX, `${at} = ${String(x)} is ms since the epoch`);
        checked++;
      } else if (legacy.includes(key) && `${key}Wall` in o) {
        const wall = o[`${key}Wall`] as number;
        // An ISO string holds whole milliseconds (a Date truncates).
        if (typeof x === "string") assert.equal(Date.parse(x), Math.trunc(wall), `${at} (kept one release) says what ${key}Wall says`);
        else assert.equal(x, wall, `${at} (kept one release) says what ${key}Wall says`);
        checked++;
      } else if (isTimeName(key) && x !== undefined) {
        assert.equal(typeof x, "number", `${at} is a number`);
        assert.ok((x as number) >= 0 && (x as number) < EPOCH_MIN, `${at} = ${String(x)} is monotonic ms (an epoch time must be named ...Wall)`);
        checked++;
      } else walk(x, `${path}.${key}`);
    }
  };
  walk(value, "");
  return checked;
}
