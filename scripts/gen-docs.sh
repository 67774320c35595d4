#!/bin/sh
# Regenerates man/*.1 from the clap definitions (src/cli.rs); the completion scripts under
# completions/ are written by hand (they ask `git-conflux __complete`).
# tests/cli/test_docs.rs fails while the committed files differ from what this writes.
set -eu
cd "$(dirname "$0")/.."
UPDATE_DOCS=1 cargo test --quiet --test cli -- test_docs::man_pages_and_completions_are_up_to_date
echo "updated man/"
