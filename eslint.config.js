// One lint configuration for the whole tree; `npm test` runs it through scripts/check.sh.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    languageOptions: { globals: globals.node },
  },
  {
    // The dashboard page runs in the browser, with uPlot loaded before it.
    files: ["web/**/*.js"],
    languageOptions: { sourceType: "module", globals: { ...globals.browser, uPlot: "readonly" } },
  },
);
