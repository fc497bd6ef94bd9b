/** The package version; scripts/check.sh fails when it differs from package.json. */
export const VERSION = "0.1.0";
