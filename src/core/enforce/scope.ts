/** What `watch --enforce`'s limit counts per (`--per`). Pure; apart so the CLI can name them without loading the enforcer. */
export type EnforceScope = "host" | "uid" | "unit" | "container" | "process";
export const ENFORCE_SCOPES: readonly EnforceScope[] = ["host", "uid", "unit", "container", "process"];
