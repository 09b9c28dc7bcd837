// Written by `node --import tsx bench/calibrate-memory.ts fit RESULTS.json --write`: the planner's
// fitted factors (src/plan/constants.ts) and the measurements they came from. null: none yet, the
// planner runs on first principles.
import type { Calibration } from "./constants.ts";

export const CALIBRATION: Calibration | null = {
  "source": {
    "hardware": "NVIDIA H200 (143771 MiB)",
    "versions": "torch 2.11.0+cu130, transformers 5.17.0, peft 0.21.0, CUDA 13.0",
    "date": "2026-12-02",
    "note": "Fitted on the 22 fit runs of bench/results/memory-calibration-2026-12-02-expandable.json; held-out median |error| 1.9%, worst 5.2%."
  },
  "results": "bench/results/memory-calibration-2026-12-02-expandable.json",
  "factors": {
    "activationFactor": {
      "none": 1.0051464539984591,
      "backward": 0.481306726995209
    },
    "lossChunkScratchBytes": 10.945436176125316,
    "fragmentation": {
      "churn": 1.0437656362487757,
      "logits": 1.2630730523338336,
      "buffers": 1
    },
    "rootReduceFresh": 1,
    "runtimeBytes": 66204321.03153028,
    "reserveSlackBytes": 24871424.782668903
  }
};
