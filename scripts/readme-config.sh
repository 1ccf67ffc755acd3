#!/usr/bin/env bash
# Rewrites the configuration tables in docs/ from the config schemas (src/config.ts and
# src/consumers/config.ts): between <!-- config-table:start/end --> in docs/configuration.md (the
# bridge) and <!-- config-table:<consumer>:start/end --> in docs/consumers.md (analytics,
# moderation).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s build
for which in bridge analytics moderation; do
  if [ "$which" = bridge ]; then
    marker=config-table
    file=docs/configuration.md
  else
    marker="config-table:$which"
    file=docs/consumers.md
  fi
  table=$(node dist/src/tools/config-docs.js "$which")
  TABLE="$table" MARKER="$marker" FILE="$file" node -e '
    const fs = require("fs");
    const file = process.env.FILE;
    const doc = fs.readFileSync(file, "utf8");
    const m = process.env.MARKER;
    const re = new RegExp("(<!-- " + m + ":start -->\\n)[\\s\\S]*?(\\n<!-- " + m + ":end -->)");
    if (!re.test(doc)) { console.error(file + " has no " + m + " markers"); process.exit(1); }
    fs.writeFileSync(file, doc.replace(re, (_, a, b) => a + process.env.TABLE + b));
  '
done
npx prettier --write docs/configuration.md docs/consumers.md >/dev/null
