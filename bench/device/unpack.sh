#!/usr/bin/env bash
# Run first on the GPU machine: unpacks .devcarry/ (see pack.sh) and puts node on PATH.
# Source it: `. bench/device/unpack.sh`.
mkdir -p /tmp/node-bin
xz -dc .devcarry/node.xz > /tmp/node-bin/node && chmod +x /tmp/node-bin/node
tar -xJf .devcarry/node_modules.tar.xz
export PATH=/tmp/node-bin:$PATH
export WHET_PYTHON="$(command -v python3)"
export WHET_SHARED="$PWD/.devcarry/shared"
