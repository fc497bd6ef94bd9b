/** The package version, kept in step with package.json by the release check in scripts/check.sh. */
export const VERSION = "0.1.0";
