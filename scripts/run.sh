#!/usr/bin/env bash
# Installs everything into .venv and runs the bot (SQLite in data/ unless DATABASE_URL says otherwise).
# Any argument is passed to `python -m bot`: `scripts/run.sh sandbox`, `scripts/run.sh demo-data`.
source "$(dirname "$0")/_venv.sh" ""
if [ $# -eq 0 ]; then set -- run; fi
exec .venv/bin/python -m bot "$@"
