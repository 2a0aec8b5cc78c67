#!/usr/bin/env bash
# Installs the project with its dev tools into .venv and runs the whole test suite.
# PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) tests run when they are reachable.
source "$(dirname "$0")/_venv.sh" "dev"
exec .venv/bin/python -m pytest "$@"
