#!/usr/bin/env bash
# Rewrites the README's configuration tables from the config schemas (src/config.ts and
# src/consumers/config.ts): between <!-- config-table:start/end --> (the bridge) and
# <!-- config-table:<consumer>:start/end --> (analytics, moderation).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s build
for which in bridge analytics moderation; do
  if [ "$which" = bridge ]; then marker=config-table; else marker="config-table:$which"; fi
  table=$(node dist/src/tools/config-docs.js "$which")
  TABLE="$table" MARKER="$marker" node -e '
    const fs = require("fs");
    const readme = fs.readFileSync("README.md", "utf8");
    const m = process.env.MARKER;
    const re = new RegExp("(<!-- " + m + ":start -->\\n)[\\s\\S]*?(\\n<!-- " + m + ":end -->)");
    if (!re.test(readme)) { console.error("README has no " + m + " markers"); process.exit(1); }
    fs.writeFileSync("README.md", readme.replace(re, (_, a, b) => a + process.env.TABLE + b));
  '
done
npx prettier --write README.md >/dev/null
