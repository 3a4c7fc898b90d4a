#!/bin/sh
# Runs the render benchmark: canvass (minijinja + lettre) against Python (Jinja2 +
# email.message), both rendering the same personalised e-mails for the same recipients.
# Needs python3 with jinja2 (pip install jinja2). RENDER_BENCH_N sets the recipients.
set -eu
cd "$(dirname "$0")/../.."
exec cargo bench --bench render "$@"
