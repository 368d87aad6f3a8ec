#!/bin/sh
# Regenerate configure and config.h.in from configure.ac (needs autoconf).
set -e
cd "$(dirname "$0")"
autoconf -f
autoheader -f
rm -rf autom4te.cache configure~ config.h.in~
