"""Build a Hugging Face tokenizer directory offline, for inference-perf (which always needs one).

A GPT-2-style byte-level BPE (vocabulary 8192) trained on this interpreter's standard-library
`*.py` files, saved as tokenizer.json + tokenizer_config.json (PreTrainedTokenizerFast). Runs in the
benchmark-tools venv (it needs the `tokenizers` package, which inference-perf brings):

    ~/.cache/heteropool-bench/venv312/bin/python bench/shootout_tokenizer.py DIR
"""

from __future__ import annotations

import json
import sys
import sysconfig
from pathlib import Path


def build(folder: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = [p.read_text(errors="ignore") for p in sorted(stdlib.glob("*.py"))[:200]]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=8192,
        min_frequency=2,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 65536,
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1))


if __name__ == "__main__":
    build(Path(sys.argv[1]))
