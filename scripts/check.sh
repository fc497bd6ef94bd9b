#!/usr/bin/env bash
# The one quality gate: typecheck, lint, then every test (unit, property,
# fixture and the root-only netns integration tests). `npm test` runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== typecheck (and the page, web/app.js, against the record types)"
npx tsc -p tsconfig.json --noEmit
npx tsc -p tsconfig.web.json

echo "== build (dist/, which the package-exports test imports)"
npx tsc -p tsconfig.build.json

echo "== version"
node -e 'const v=require("./package.json").version; const s=require("fs").readFileSync("src/version.ts","utf8"); if(!s.includes(`"${v}"`)){console.error(`src/version.ts does not say ${v}`); process.exit(1)}'

echo "== lint"
npx eslint .

echo "== structure (no import cycle in src/, no function over 120 lines)"
node scripts/check-cycles.mjs src
node scripts/check-function-size.mjs 120

echo "== tests"
mapfile -t files < <(find src test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
