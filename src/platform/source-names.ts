/** The connection sources `--source` names (select.ts chooses among them). */
export const SOURCE_NAMES = ["tracefs", "procfs", "windows", "macos"] as const;
export type SourceName = (typeof SOURCE_NAMES)[number];
