#!/usr/bin/env bash
# Packs what a bare GPU machine lacks into .devcarry/ (git-ignored): a Node binary, the npm
# packages the CLI needs at run time (Linux x64 only), and the test tokenizer and datasets
# from ../shared/data, which never enter the repository itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.devcarry
mkdir -p "$out"
[ -f "$out/node.xz" ] || xz -T2 -6 -c "$(readlink -f "$(command -v node)")" > "$out/node.xz"
tar -cJf "$out/node_modules.tar.xz" \
  --exclude='node_modules/typescript' --exclude='node_modules/@types' \
  --exclude='node_modules/tokenizers/tokenizers.android*' --exclude='node_modules/tokenizers/tokenizers.darwin*' \
  --exclude='node_modules/tokenizers/tokenizers.win32*' --exclude='node_modules/tokenizers/tokenizers.linux-arm*' \
  --exclude='node_modules/tokenizers/tokenizers.linux-x64-musl*' \
  node_modules
rm -rf "$out/shared" && mkdir -p "$out/shared"
cp -r ../shared/data/tokenizers ../shared/data/llamafactory "$out/shared/"
du -sh "$out"/*
