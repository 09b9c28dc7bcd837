#!/usr/bin/env bash
# The spine on a GPU: `whet train` end to end (quickstart, SmolLM2-135M shape full and LoRA,
# a 1B Llama shape full and LoRA), random weights, alpaca_en_demo, one process per GPU (NCCL, bf16).
# Usage on the GPU machine, from the repository root, after `. bench/device/unpack.sh`:
#   bash bench/spine-gpu.sh OUT_DIR
set -uo pipefail
out=${1:?output folder}
mkdir -p "$out"
shared=${WHET_SHARED:?set WHET_SHARED to a copy of shared/data}
work=$(mktemp -d)
export WHET_CACHE_DIR=$work/cache

make_model() { # name hidden layers heads kv mlp
  local dir=$work/$1
  mkdir -p "$dir"
  cp "$shared"/tokenizers/SmolLM2-135M-Instruct/{tokenizer.json,tokenizer_config.json,special_tokens_map.json,generation_config.json} "$dir/"
  python3 - "$dir" "$2" "$3" "$4" "$5" "$6" <<'PY'
import json, sys
d, h, l, a, kv, m = sys.argv[1], *map(int, sys.argv[2:])
json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 49152,
           "hidden_size": h, "intermediate_size": m, "num_hidden_layers": l, "num_attention_heads": a,
           "num_key_value_heads": kv, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
           "rope_theta": 100000.0, "tie_word_embeddings": h < 1024, "hidden_act": "silu",
           "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2, "torch_dtype": "bfloat16"},
          open(f"{d}/config.json", "w"), indent=1)
PY
}
make_model smollm2-135m-shape 576 30 9 3 1536
make_model llama-1b-shape 2048 16 32 8 8192

run() { # label config-args...
  local label=$1; shift
  echo "== $label: whet train $*" | tee -a "$out/commands.txt"
  local t0=$(date +%s)
  node bin/whet.js train "$@" --json > "$out/$label.jsonl" 2> "$out/$label.stderr"
  echo "$label exit=$? seconds=$(( $(date +%s) - t0 ))" | tee -a "$out/commands.txt"
}

run quickstart
for shape in smollm2-135m-shape llama-1b-shape; do
  for method in full lora; do
    lr=1.0e-4; [ $method = lora ] && lr=2.0e-4
    cat > "$work/$shape-$method.yaml" <<YAML
model_name_or_path: $work/$shape
random_init: true
finetuning_type: $method
lora_rank: 8
lora_target: all
dataset: $shared/llamafactory/alpaca_en_demo.json
cutoff_len: 1024
packing: true
per_device_train_batch_size: 8
gradient_accumulation_steps: 1
learning_rate: $lr
max_steps: 60
lr_scheduler_type: cosine
warmup_ratio: 0.05
bf16: true
gradient_checkpointing: false
logging_steps: 5
save_steps: 30
YAML
    run "$shape-$method" "$work/$shape-$method.yaml"
  done
done
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.csv"
