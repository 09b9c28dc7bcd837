// Written by `node --import tsx bench/calibrate-memory.ts fit RESULTS.json --write`: the planner's
// fitted factors (src/plan/constants.ts) and the measurements they came from. null: none yet, the
// planner runs on first principles.
import type { Calibration } from "./constants.ts";

export const CALIBRATION: Calibration | null = {
  "source": {
    "hardware": "NVIDIA H200 (143771 MiB)",
    "versions": "torch 2.11.0+cu130, transformers 5.17.0, peft 0.21.0, CUDA 13.0",
    "date": "2026-12-02",
    "note": "Fitted on the 19 fit runs of bench/results/memory-calibration-2026-12-02-matrix.json; held-out median |error| 3.6%, worst 16.6%."
  },
  "results": "bench/results/memory-calibration-2026-12-02-matrix.json",
  "factors": {
    "activationFactor": {
      "none": 0.9995302501301092,
      "backward": 0.7246977967977045
    },
    "lossChunkScratchBytes": 11.262945680661659,
    "fragmentation": {
      "churn": 1.0740897430019332,
      "logits": 1.5539366169636035,
      "buffers": 1.0258774139052311
    },
    "runtimeBytes": 69918312.4688332,
    "reserveSlackBytes": 585232.7469524894
  }
};
