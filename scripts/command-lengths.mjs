// Lists every IPC command's length in lines, longest last, and fails when
// one is longer than the limit (40, #17): a command that grows past it is
// deciding something the core should, or doing two screens' work.
//
//   node scripts/command-lengths.mjs [LIMIT]
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const limit = Number(process.argv[2] ?? 40);
const root = new URL("../src-tauri/src/", import.meta.url).pathname;

function rustFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return rustFiles(path);
    return entry.name.endsWith(".rs") ? [path] : [];
  });
}

const commands = [];
for (const file of rustFiles(root)) {
  const lines = readFileSync(file, "utf8").split("\n");
  lines.forEach((line, at) => {
    if (line.trim() !== "#[tauri::command]") return;
    // The attribute's own function: the first line after it that is not
    // another attribute, a doc or a comment must declare it.
    let start = at + 1;
    while (start < lines.length && /^\s*(#\[|\/\/)/.test(lines[start])) start++;
    const name = /^(pub(\([a-z]+\))? )?(async )?fn (\w+)/.exec(lines[start] ?? "")?.[4];
    const where = `${file.slice(root.length)}:${start + 1}`;
    if (!name) {
      console.error(`command-lengths: no fn after #[tauri::command] at ${where}`);
      process.exit(1);
    }
    // rustfmt closes a top-level function with a "}" alone at column 0.
    let end = start;
    while (end < lines.length && lines[end] !== "}") end++;
    if (end === lines.length) {
      console.error(`command-lengths: ${name} at ${where} has no closing "}" at column 0`);
      process.exit(1);
    }
    commands.push({ name, lines: end - start + 1, file: file.slice(root.length) });
  });
}

commands.sort((a, b) => a.lines - b.lines);
for (const c of commands) console.log(`${String(c.lines).padStart(4)} ${c.name} (${c.file})`);
const long = commands.filter((c) => c.lines > limit);
if (commands.length === 0) {
  console.error("command-lengths: no #[tauri::command] found; has the shell moved?");
  process.exit(1);
}
if (long.length > 0) {
  console.error(`command-lengths: ${long.map((c) => c.name).join(", ")} longer than ${limit} lines`);
  process.exit(1);
}
console.log(`command-lengths: ${commands.length} commands, none over ${limit} lines`);
