// LLaMA-Factory's template names: the ones that render exactly like a Whetstone built-in map to it;
// the rest are known by name, so `template: llama2` says what to do instead of "unknown template".

/** LF name -> built-in with the same rendered text (multimodal/stop-word differences do not matter here). */
export const LF_ALIASES: Record<string, string> = {
  gemma2: "gemma",
  gemma3: "gemma",
};

/** LLaMA-Factory templates Whetstone has no built-in for (as of LLaMA-Factory 0.9.x, 2025). */
export const LF_WITHOUT_BUILTIN = new Set([
  "alpaca", "aquila", "atom", "baichuan", "baichuan2", "bailing", "bailing_v2", "belle", "bluelm", "breeze",
  "chatglm2", "chatglm3", "chatml_de", "codegeex2", "codegeex4", "cohere", "cpm", "cpm3", "cpm4", "dbrx",
  "deepseek", "deepseek3", "deepseekr1", "deepseekcoder", "dots_ocr", "ernie", "ernie_nothink", "ernie_vl",
  "exaone", "falcon", "falcon_h1", "fewshot", "gemma3n", "glm4", "glm4_moe", "glm4v", "glm4_5v", "gpt",
  "gpt_oss", "granite3", "granite3_vision", "granite4", "hunyuan", "index", "intern2", "intern_vl", "intern_s1",
  "kimi_vl", "llama2", "llama2_zh", "llama4", "mllama", "moonlight", "llava", "llava_next", "llava_next_llama3",
  "llava_next_mistral", "llava_next_qwen", "llava_next_yi", "llava_next_video", "llava_next_video_mistral",
  "llava_next_video_yi", "marco", "mimo", "mimo_v2", "mimo_vl", "minicpm_v", "minicpm_o", "minimax1", "minimax2",
  "ministral", "ministral3", "mistral_small", "olmo", "openchat", "openchat-3.6", "opencoder", "paligemma",
  "phi", "phi_small", "phi4", "phi4_mini", "pixtral", "qwen2_audio", "qwen2_omni", "qwen2_vl", "qwen3_omni",
  "qwen3_vl", "qwen3_vl_nothink", "sailor", "seed_coder", "seed_oss", "skywork_o1", "smollm", "smollm2",
  "solar", "starchat", "telechat", "telechat2", "vicuna", "video_llava", "xuanyuan", "xverse", "yayi", "yi",
  "yi_vl", "yuan", "zephyr", "ziya",
]);
