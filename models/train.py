"""Train HAPA's code model with fill-in-the-middle on the corpus, for a fixed wall-clock budget.

    nice python models/train.py --corpus ~/.cache/hapa/corpus --minutes 133 --tokens 24 \
        --work ~/.cache/hapa/train --log models/training.log

The learning rate follows a cosine over the budget, which is tokens or wall-clock time, whichever
runs out first (not a step count), so a run on a busy 2-core machine and one on a GPU both end
annealed. A checkpoint is written every few minutes and
training resumes from it when restarted with the same --work. Every example is one of:
- line FIM (the editor's case): the cursor at a random character of a non-blank line; the middle is
  the rest of that line; prefix and suffix around it;
- span FIM: the middle runs from the cursor over up to five more lines;
- plain text, left to right.
FIM examples are laid out prefix-suffix-middle: <|fim_prefix|> P <|fim_suffix|> S <|fim_middle|> M
<|endoftext|>, each part encoded on its own, exactly as crates/hapa-model builds its prompts.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from model import CodeModel, Config
from tokenizer import load as load_tokenizer

HERE = Path(__file__).resolve().parent
EOT, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE = 0, 1, 2, 3
SEQUENCE = 512
PREFIX_CHARS = 1800
SUFFIX_CHARS = 600
MAX_SUFFIX_TOKENS = 128
MAX_MIDDLE_TOKENS = 96


class Examples:
    def __init__(self, texts: list[str], tokenizer, seed: int):
        self.texts = texts
        self.tokenizer = tokenizer
        self.rng = random.Random(seed)
        weights = [len(t) for t in texts]
        total = sum(weights)
        self.cumulative = []
        running = 0
        for weight in weights:
            running += weight
            self.cumulative.append(running / total)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids if text else []

    def pick_text(self) -> str:
        import bisect

        return self.texts[min(bisect.bisect(self.cumulative, self.rng.random()), len(self.texts) - 1)]

    def fim(self, text: str, multiline: bool) -> list[int] | None:
        lines = text.splitlines(keepends=True)
        candidates = [i for i, line in enumerate(lines) if line.strip()]
        if not candidates:
            return None
        index = self.rng.choice(candidates)
        line_start = sum(len(line) for line in lines[:index])
        line = lines[index].rstrip("\r\n")
        indent = len(line) - len(line.lstrip())
        cursor = line_start + self.rng.randrange(indent, len(line))
        last = min(index + self.rng.randrange(1, 6), len(lines) - 1) if multiline else index
        end = sum(len(line) for line in lines[:last]) + len(lines[last].rstrip("\r\n"))
        prefix_start = text.rfind("\n", 0, max(0, cursor - PREFIX_CHARS)) + 1
        prefix = text[prefix_start:cursor]
        middle = text[cursor:end]
        suffix_end = text.find("\n", end + SUFFIX_CHARS)
        suffix = text[end : suffix_end if suffix_end >= 0 else len(text)]
        middle_ids = self.encode(middle)[:MAX_MIDDLE_TOKENS]
        suffix_ids = self.encode(suffix)[:MAX_SUFFIX_TOKENS]
        budget = SEQUENCE - len(middle_ids) - len(suffix_ids) - 4
        prefix_ids = self.encode(prefix)[-budget:]
        return [FIM_PREFIX, *prefix_ids, FIM_SUFFIX, *suffix_ids, FIM_MIDDLE, *middle_ids, EOT]

    def plain(self, length: int) -> list[int]:
        text = self.pick_text()
        start = self.rng.randrange(len(text))
        start = text.rfind("\n", 0, start) + 1
        ids = self.encode(text[start : start + length * 6])
        if len(ids) < length:
            ids.append(EOT)
        return ids[:length]

    def row(self) -> list[int]:
        row: list[int] = []
        while len(row) < SEQUENCE:
            roll = self.rng.random()
            if roll < 0.6:
                example = self.fim(self.pick_text(), multiline=roll >= 0.45)
                if example is None:
                    continue
                if len(row) + len(example) > SEQUENCE:
                    row.extend(self.plain(SEQUENCE - len(row)))
                else:
                    row.extend(example)
            else:
                row.extend(self.plain(min(SEQUENCE - len(row), self.rng.randrange(64, SEQUENCE + 1))))
        return row[:SEQUENCE]

    def batch(self, size: int) -> torch.Tensor:
        return torch.tensor([self.row() for _ in range(size)], dtype=torch.long)


def loss_of(model: CodeModel, batch: torch.Tensor) -> torch.Tensor:
    logits = model(batch[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path.home() / ".cache/hapa/corpus")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache/hapa/train")
    parser.add_argument("--log", type=Path, default=HERE / "training.log")
    parser.add_argument("--minutes", type=float, default=120, help="wall-clock budget")
    parser.add_argument("--tokens", type=float, default=24, help="token budget, millions: whichever ends first")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", type=int, default=Config.layers)
    parser.add_argument("--width", type=int, default=Config.width)
    parser.add_argument("--heads", type=int, default=Config.heads)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--init-onnx",
        type=Path,
        help="start a new run (no checkpoint in --work yet) from the weights of an exported model, "
        "e.g. the shipped models/hapa-code.onnx, whose hapa-code.json training totals carry over",
    )
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    args.work.mkdir(parents=True, exist_ok=True)
    texts = [json.loads(line)["text"] for line in open(args.corpus / "train.jsonl")]
    random.Random(0).shuffle(texts)
    held_out, texts = texts[:80], texts[80:]
    tokenizer = load_tokenizer()
    config = Config(vocab_size=tokenizer.get_vocab_size(), layers=args.layers, width=args.width, heads=args.heads)
    model = CodeModel(config).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    other = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95)
    )

    checkpoint = args.work / "checkpoint.pt"
    state = {"step": 0, "tokens": 0, "seconds": 0.0}
    if checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = saved["state"]
    elif args.init_onnx:
        import onnx
        from onnx import numpy_helper

        weights = {
            tensor.name.removeprefix("model."): torch.from_numpy(numpy_helper.to_array(tensor).copy())
            for tensor in onnx.load(str(args.init_onnx)).graph.initializer
        }
        model.load_state_dict(weights)
        earlier = json.loads(args.init_onnx.with_suffix(".json").read_text())["training"]
        state["earlier"] = {key: earlier[key] for key in ("step", "tokens", "seconds", "runs") if key in earlier}
    examples = Examples(texts, tokenizer, seed=args.seed + state["step"])
    validation = Examples(held_out, tokenizer, seed=12345).batch(32).to(device)
    budget = args.minutes * 60
    warmup = 100
    parameters = sum(p.numel() for p in model.parameters())
    log = open(args.log, "a")

    def say(message: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    def save() -> None:
        payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": state, "config": config.as_dict()}
        torch.save(payload, args.work / "checkpoint.tmp")
        (args.work / "checkpoint.tmp").replace(checkpoint)

    def validate() -> float:
        model.eval()
        with torch.no_grad():
            value = sum(loss_of(model, validation[i : i + 8]).item() for i in range(0, len(validation), 8)) / 4
        model.train()
        return value

    say(f"start: budget {args.minutes} min or {args.tokens}M tokens; {parameters / 1e6:.2f} M parameters {config.as_dict()} device={device} batch={args.batch}x{SEQUENCE} resume_step={state['step']} files={len(texts)} earlier={state.get('earlier')}")
    if state["step"] == 0 and "earlier" in state:
        say(f"validation loss of the starting weights {validate():.3f}")
    started = time.time() - state["seconds"]
    last_save = last_report = time.time()
    report_tokens = 0
    while True:
        elapsed = time.time() - started
        progress = max(elapsed / budget, state["tokens"] / (args.tokens * 1e6))
        if progress >= 1:
            break
        lr = args.lr * min(1.0, (state["step"] + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = examples.batch(args.batch).to(device)
        loss = loss_of(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state["step"] += 1
        state["tokens"] += batch.numel()
        state["seconds"] = time.time() - started
        report_tokens += batch.numel()
        if time.time() - last_report >= 60:
            rate = report_tokens / (time.time() - last_report)
            say(f"step {state['step']} tokens {state['tokens'] / 1e6:.2f}M loss {loss.item():.3f} lr {lr:.2e} {rate:.0f} tok/s elapsed {elapsed / 60:.1f} min")
            last_report, report_tokens = time.time(), 0
        if time.time() - last_save >= 300:
            save()
            say(f"checkpoint at step {state['step']}: validation loss {validate():.3f}")
            last_save = time.time()
    save()
    say(f"done: step {state['step']} tokens {state['tokens'] / 1e6:.2f}M validation loss {validate():.3f} in {state['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
