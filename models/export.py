"""Export a training checkpoint to the ONNX file HAPA ships, with its digest and parity vectors.

    python models/export.py --checkpoint ~/.cache/hapa/train/checkpoint.pt

writes models/hapa-code.onnx (float32, key/value cache in and out), models/hapa-code.onnx.sha256,
models/hapa-code.json (what the runtime needs that the graph does not say) and
models/parity.json (greedy tokens PyTorch decodes for fixed prompts; crates/hapa-model checks
that tract, natively and in WebAssembly, decodes the same).

Graph signature (format 2; T new tokens, P cached positions, P >= 1: the runtime's first cache
slot is a masked zero slot, so no tensor is ever empty):
  input_ids int64 [1, T], position_ids int64 [1, T], attention_bias float32 [1, 1, T, P + T],
  past_key_0, past_value_0, past_key_1, ... float32 [1, heads, P, head_width] (each layer's own)
  -> logits float32 [1, vocab] (after the last input token),
     present_key_0, present_value_0, ... float32 [1, heads, P + T, head_width]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch

from model import CodeModel, Config, Exported
from tokenizer import load as load_tokenizer
from train import EOT, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, SEQUENCE

HERE = Path(__file__).resolve().parent
MASKED = -1e9
PARITY_PROMPTS = [
    ("import os\n\n\ndef read_lines(path):\n    with open(path) as handle:\n        return ", "\n"),
    ("class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        self.", "\n"),
    ("for index, value in enumerate(", ""),
]


def bias(new: int, past: int) -> torch.Tensor:
    """Causal bias over [masked zero slot, past - 1 cached positions, new positions]."""
    values = torch.zeros(1, 1, new, past + new)
    values[..., 0] = MASKED
    values[0, 0, :, past:] += torch.triu(torch.full((new, new), MASKED), 1)
    return values


def greedy(model: CodeModel, prompt: list[int], steps: int) -> list[int]:
    config = model.config
    past = [torch.zeros(1, config.heads, 1, config.head_width) for _ in range(2 * config.layers)]
    ids, position, out = prompt, 0, []
    for _ in range(steps):
        positions = torch.arange(position, position + len(ids))[None]
        logits, *past = model.step(torch.tensor([ids]), positions, bias(len(ids), past[0].shape[2]), *past)
        position += len(ids)
        token = int(logits[0].argmax())
        out.append(token)
        if token == EOT:
            break
        ids = [token]
    return out


def check_step_matches_forward(model: CodeModel, prompt: list[int]) -> None:
    """The exported `step` (a key/value cache, the last block on the last position only) gives
    the logits training's `forward` gives after the prompt, fed whole and then in two parts."""
    config = model.config
    ids = torch.tensor([prompt])
    expected = model.forward(ids)[0, -1]
    for split in (len(prompt), len(prompt) // 2):
        past = [torch.zeros(1, config.heads, 1, config.head_width) for _ in range(2 * config.layers)]
        for start, end in ((0, split), (split, len(prompt))):
            if start == end:
                continue
            positions = torch.arange(start, end)[None]
            logits, *past = model.step(ids[:, start:end], positions, bias(end - start, past[0].shape[2]), *past)
        torch.testing.assert_close(logits[0], expected, atol=1e-4, rtol=1e-4)


def training_totals(state: dict) -> dict:
    """Steps, tokens and seconds of every run behind the weights (a run started with
    `train.py --init-onnx` carries the earlier runs' totals, and their list, in state["earlier"])."""
    this_run = {key: state[key] for key in ("step", "tokens", "seconds")}
    if "earlier" not in state:
        return this_run
    earlier = state["earlier"]
    runs = earlier.get("runs") or [{key: earlier[key] for key in ("step", "tokens", "seconds")}]
    totals = {key: earlier[key] + this_run[key] for key in ("step", "tokens", "seconds")}
    totals["runs"] = [*runs, this_run]
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=Path.home() / ".cache/hapa/train/checkpoint.pt")
    parser.add_argument("--out", type=Path, default=HERE / "hapa-code.onnx")
    args = parser.parse_args()

    saved = torch.load(args.checkpoint, map_location="cpu")
    config = Config(**saved["config"])
    model = CodeModel(config)
    model.load_state_dict(saved["model"])
    model.eval()

    t, p = 3, 2
    example = (
        torch.zeros(1, t, dtype=torch.long),
        torch.arange(p - 1, p - 1 + t)[None],
        bias(t, p),
        *(torch.zeros(1, config.heads, p, config.head_width) for _ in range(2 * config.layers)),
    )
    cache_names = [f"{kind}_{layer}" for layer in range(config.layers) for kind in ("key", "value")]
    with torch.no_grad():
        torch.onnx.export(
            Exported(model),
            example,
            str(args.out),
            input_names=["input_ids", "position_ids", "attention_bias", *(f"past_{name}" for name in cache_names)],
            output_names=["logits", *(f"present_{name}" for name in cache_names)],
            dynamic_axes={
                "input_ids": {1: "tokens"},
                "position_ids": {1: "tokens"},
                "attention_bias": {2: "tokens", 3: "total"},
                **{f"past_{name}": {2: "past"} for name in cache_names},
                **{f"present_{name}": {2: "total"} for name in cache_names},
            },
            opset_version=20,
            # Folding would store the tied embedding twice (once transposed for the logits).
            do_constant_folding=False,
            dynamo=False,
        )
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    args.out.with_name(args.out.name + ".sha256").write_text(f"{digest}  {args.out.name}\n")

    tokenizer = load_tokenizer()
    meta = {
        "format": 2,
        "vocab_size": config.vocab_size,
        "layers": config.layers,
        "heads": config.heads,
        "head_width": config.head_width,
        "max_positions": config.max_positions,
        "trained_sequence": SEQUENCE,
        "special_tokens": {"end_of_text": EOT, "fim_prefix": FIM_PREFIX, "fim_suffix": FIM_SUFFIX, "fim_middle": FIM_MIDDLE},
        "training": training_totals(saved["state"]),
        "sha256": digest,
    }
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")

    vectors = []
    with torch.no_grad():
        for prefix, suffix in PARITY_PROMPTS:
            prompt = [FIM_PREFIX, *tokenizer.encode(prefix).ids, FIM_SUFFIX, *tokenizer.encode(suffix).ids, FIM_MIDDLE]
            check_step_matches_forward(model, prompt)
            vectors.append({"prefix": prefix, "suffix": suffix, "prompt": prompt, "greedy": greedy(model, prompt, 16)})
    args.out.with_name("parity.json").write_text(json.dumps(vectors, indent=1) + "\n")
    size = args.out.stat().st_size / 1e6
    print(f"{args.out} {size:.1f} MB sha256 {digest}")
    for vector in vectors:
        print(repr(vector["prefix"][-30:]), "->", repr(tokenizer.decode(vector["greedy"])))


if __name__ == "__main__":
    main()
