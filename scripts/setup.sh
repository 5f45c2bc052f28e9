#!/usr/bin/env bash
# Installs what Baton's demo and tests need beyond a Rust toolchain: python3
# (standard library only) for the example process tasks. Protobuf needs
# nothing: it is compiled by protox, in Rust. Safe to run again.
set -euo pipefail
if ! command -v python3 >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3
  else
    echo "setup: python3 is required for the example tasks; install it" >&2
    exit 1
  fi
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is required; install Rust from your distribution or rustup" >&2
  exit 1
fi
