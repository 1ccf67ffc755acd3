#!/usr/bin/env bash
# Rewrites the README's configuration table from the config schema (src/config.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s build
table=$(node dist/src/tools/config-docs.js)
TABLE="$table" node -e '
  const fs = require("fs");
  const readme = fs.readFileSync("README.md", "utf8");
  const out = readme.replace(/(<!-- config-table:start -->\n)[\s\S]*?(\n<!-- config-table:end -->)/, (_, a, b) => a + process.env.TABLE + b);
  fs.writeFileSync("README.md", out);
'
npx prettier --write README.md >/dev/null
