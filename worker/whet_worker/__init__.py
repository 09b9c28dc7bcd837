"""Whetstone worker: loads the model, trains, checkpoints and exports, driven by one RunSpec."""

SPEC_VERSION = 2  # must equal SPEC_VERSION in src/spec/runspec.ts
PROTOCOL_VERSION = 1  # must equal PROTOCOL_VERSION in src/events/schema.ts
__version__ = "0.1.0"
