#!/usr/bin/env bash
# Rewrites what is generated from the code: the configuration tables in docs/ from the config
# schemas (src/config.ts and src/consumers/config.ts), between <!-- config-table:start/end --> in
# docs/configuration.md (the bridge) and <!-- config-table:<consumer>:start/end --> in
# docs/consumers.md (analytics, moderation); the command catalogue table in docs/catalogue.md and
# the bridge's topics in k8s/base/topics/topics.conf (between # bridge:start/end), from
# src/catalogue/catalogue.ts. Tests keep each equal to the code.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s build

# replace FILE START END TEXT: puts TEXT between the lines START and END of FILE
replace() {
  FILE="$1" START="$2" END="$3" TEXT="$4" node -e '
    const fs = require("fs");
    const { FILE, START, END, TEXT } = process.env;
    const doc = fs.readFileSync(FILE, "utf8");
    const a = doc.indexOf(START + "\n");
    const b = doc.indexOf("\n" + END, a);
    if (a < 0 || b < 0) { console.error(FILE + " has no " + START + " ... " + END + " markers"); process.exit(1); }
    fs.writeFileSync(FILE, doc.slice(0, a + START.length + 1) + TEXT + doc.slice(b));
  '
}

for which in bridge analytics moderation; do
  if [ "$which" = bridge ]; then marker=config-table file=docs/configuration.md; else
    marker="config-table:$which" file=docs/consumers.md
  fi
  replace "$file" "<!-- $marker:start -->" "<!-- $marker:end -->" \
    "$(node dist/src/tools/config-docs.js "$which")"
done
replace docs/catalogue.md '<!-- catalogue-table:start -->' '<!-- catalogue-table:end -->' \
  "$(node dist/src/tools/catalogue-docs.js table)"
replace k8s/base/topics/topics.conf '# bridge:start' '# bridge:end' \
  "$(node dist/src/tools/catalogue-docs.js topics)"
npx prettier --write docs/configuration.md docs/consumers.md docs/catalogue.md >/dev/null
