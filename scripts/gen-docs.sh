#!/bin/sh
# Regenerates man/*.1 and completions/* from the clap definitions (src/cli.rs).
# tests/cli/test_docs.rs fails while the committed files differ from what this writes.
set -eu
cd "$(dirname "$0")/.."
UPDATE_DOCS=1 cargo test --quiet --test cli -- test_docs::man_pages_and_completions_are_up_to_date
echo "updated man/ and completions/"
