#!/usr/bin/env bash
# Redraws every plot of docs/does-the-limit-help.md (and prints the tables the
# document quotes). Run from the repository root after `npm run build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
h() { echo "\$ halfopen $*"; node dist/cli/main.js "$@"; echo; }
h simulate p2p --preset no-client-limit --duration 120 --plot docs/plots/p2p.svg
h simulate p2p --preset article --duration 120
h simulate scan --preset vendor --plot docs/plots/scan-vendor.svg
h simulate scan --preset vendor-advice
h simulate scan --preset vendor --discovery 1 --rtt-max 50
h simulate worm --preset staniford --duration 48 --plot docs/plots/worm.svg
h simulate worm --preset half-patched --duration 48 --compare xp,williamson,credit --plot docs/plots/worm-half.svg
h simulate worm --preset code-red --plot docs/plots/code-red.svg
h simulate browse --preset everyday --plot docs/plots/browse.svg
h simulate browse --preset broken-sites
h simulate replay test/fixtures/records/verdicts-lab.jsonl --compare per-process,williamson,credit,none --top 7 --plot docs/plots/replay-lab.svg
