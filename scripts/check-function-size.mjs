#!/usr/bin/env node
// Fails when a function in src/ (declaration, method, arrow or expression,
// nested ones counted on their own) spans more than MAX lines: a long function
// is a room that grew; split it. Tests are exempt.
// Usage: node scripts/check-function-size.mjs [max=120]
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

const MAX = Number(process.argv[2] ?? 120);
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) files.push(path);
  }
};
walk("src");
const long = [];
for (const file of files) {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      if (lines > MAX) {
        const named = node.name ?? (ts.isVariableDeclaration(node.parent) ? node.parent.name : undefined);
        const name = named && (ts.isIdentifier(named) || ts.isPrivateIdentifier(named)) ? named.text : "(anonymous)";
        long.push(`${relative(".", file)}:${start + 1} ${name}: ${lines} lines`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}
if (long.length > 0) {
  for (const l of long) console.error(`function over ${MAX} lines: ${l}`);
  process.exit(1);
}
console.log(`no function over ${MAX} lines in ${files.length} files`);
