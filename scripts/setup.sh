#!/usr/bin/env bash
# Installs what Baton's demo and tests need beyond a Rust toolchain: python3
# for the example process tasks, and a virtual environment (.venv at the
# repository root) with numpy and scikit-learn for the active-learning
# example (examples/active-learning/requirements.txt). Protobuf needs
# nothing: it is compiled by protox, in Rust. Safe to run again.
set -euo pipefail
if ! command -v python3 >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3 python3-venv
  else
    echo "setup: python3 is required for the example tasks; install it" >&2
    exit 1
  fi
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is required; install Rust from your distribution or rustup" >&2
  exit 1
fi
cd "$(dirname "$0")/.."
requirements=examples/active-learning/requirements.txt
# Installed once per change of the requirements, not on every run.
if ! cmp -s "$requirements" .venv/.requirements 2>/dev/null; then
  if ! python3 -m venv .venv 2>/dev/null; then
    if command -v apt-get >/dev/null 2>&1; then
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv
      python3 -m venv .venv
    else
      echo "setup: python3 cannot make a virtual environment (python3 -m venv); install its venv module" >&2
      exit 1
    fi
  fi
  echo "setup: installing numpy and scikit-learn into .venv" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" .venv/.requirements
fi
