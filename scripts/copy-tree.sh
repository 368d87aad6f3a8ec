#!/usr/bin/env bash
# Copies the source tree SRC to DEST without build products (nor the
# README's .venv), so that a sanitized or memcheck build there reuses
# nothing of an ordinary build and the checkout is left alone.
#
#   scripts/copy-tree.sh SRC DEST
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SRC DEST" >&2; exit 2; }
mkdir -p "$2"
tar -C "$1" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./dist \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache \
    --exclude=.hypothesis --exclude='*.so' --exclude=./config.h \
    --exclude=./pamlow.cfg --exclude=./config.status --exclude=./config.log \
    --exclude=./draxoft/auth/_pamlow.py -cf - . | tar -C "$2" -xf -
