"""Regenerates the embedded quickstart: a small conversation dataset, a byte-level BPE tokenizer
trained on it, and a tiny Llama-shaped model config (random weights are built at run time).

Everything here is written by this project, so the default run needs no download.
Run: .venv/bin/python scripts/make-quickstart.py
"""
import json
import random
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

OUT = Path(__file__).resolve().parent.parent / "examples" / "quickstart"
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
COLORS = {"sky": "blue", "grass": "green", "snow": "white", "coal": "black", "a lemon": "yellow",
          "a tomato": "red", "an orange": "orange", "a plum": "purple"}
NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def conversations(rng: random.Random):
    for _ in range(240):
        a, b = rng.randint(2, 49), rng.randint(2, 49)
        yield [("user", f"What is {a} plus {b}?"), ("assistant", f"{a} plus {b} is {a + b}.")]
    for _ in range(120):
        n = rng.randint(0, 11)
        yield [("user", f"Write the number {n} in words."), ("assistant", f"{n} is written as {NUMBER_WORDS[n]}.")]
    for thing, color in COLORS.items():
        for _ in range(12):
            yield [("user", f"What color is {thing}?"), ("assistant", f"The color of {thing} is {color}.")]
    for _ in range(60):
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        yield [
            ("system", "You answer in one short sentence."),
            ("user", f"What is {a} times {b}?"),
            ("assistant", f"{a} times {b} is {a * b}."),
            ("user", "And doubled?"),
            ("assistant", f"Doubled, it is {2 * a * b}."),
        ]


def main() -> None:
    rng = random.Random(1234)
    convs = list(conversations(rng))
    rng.shuffle(convs)
    lines = [json.dumps({"messages": [{"role": r, "content": c} for r, c in conv]}) for conv in convs]
    (OUT / "data.jsonl").write_text("\n".join(lines) + "\n")

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    texts = [f"<|im_start|>{r}\n{c}<|im_end|>\n" for conv in convs for r, c in conv]
    tok.train_from_iterator(texts, trainer=trainer)
    model_dir = OUT / "model"
    tok.save(str(model_dir / "tokenizer.json"))
    chat_template = (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] "
        "+ '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    )
    (model_dir / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "model_max_length": 1024,
        "chat_template": chat_template,
    }, indent=2) + "\n")
    (model_dir / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": tok.get_vocab_size(),
        "hidden_size": 128,
        "intermediate_size": 352,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "hidden_act": "silu",
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
        "torch_dtype": "float32",
    }, indent=2) + "\n")
    print(f"{len(convs)} conversations, vocab {tok.get_vocab_size()}")


if __name__ == "__main__":
    main()
