#!/usr/bin/env node
// Fails when src/ has an import cycle among its runtime (value) imports.
// `import type` and `export type` are erased by tsc and cannot form a cycle at
// run time; a dynamic `import()` is an edge like any other (a module that
// loads one that loads it back is one room, not two).
// Usage: node scripts/check-cycles.mjs [root=src]
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(process.argv[2] ?? "src");
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts") && !name.endsWith(".d.ts")) files.push(path);
  }
};
walk(root);

const STATIC = /^\s*(?:import|export)\s+(?!type\b)(?:[^"';]*?\sfrom\s+)?["'](\.{1,2}\/[^"']+)["']/gm;
const graph = new Map();
for (const file of files) {
  const text = readFileSync(file, "utf8");
  const deps = [];
  for (const m of text.matchAll(STATIC)) {
    // `import { type A, type B } from` imports nothing at run time.
    const clause = m[0];
    const braces = /\{([^}]*)\}/.exec(clause);
    if (braces && !/\*|^\s*(?:import|export)\s+\w/.test(clause.replace(/\{[^}]*\}/, "")) && braces[1].split(",").every((s) => s.trim() === "" || s.trim().startsWith("type "))) continue;
    deps.push(resolve(dirname(file), m[1].replace(/\.js$/, ".ts")));
  }
  for (const m of text.matchAll(/\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g)) deps.push(resolve(dirname(file), m[1].replace(/\.js$/, ".ts")));
  graph.set(file, deps.filter((d) => graph.has(d) || files.includes(d)));
}

const state = new Map(); // 1 visiting, 2 done
const stack = [];
const cycles = [];
const visit = (node) => {
  state.set(node, 1);
  stack.push(node);
  for (const dep of graph.get(node) ?? []) {
    if (state.get(dep) === 1) cycles.push([...stack.slice(stack.indexOf(dep)), dep]);
    else if (!state.has(dep)) visit(dep);
  }
  stack.pop();
  state.set(node, 2);
};
for (const file of files) if (!state.has(file)) visit(file);

if (cycles.length > 0) {
  for (const c of cycles) console.error(`import cycle: ${c.map((f) => relative(root, f)).join(" -> ")}`);
  process.exit(1);
}
console.log(`no import cycle among ${files.length} modules`);
