"""Trains one shipped Shakespeare language model (lm-prenorm or lm-postnorm) with PyTorch.

A dev-time tool that `npm run train -- lm-prenorm` runs (scripts/torch/trainWithPyTorch.ts); the
app and its tests never run it. The TypeScript side owns the recipe: it writes the config and the
token ids, passes the schedule as arguments, and measures the metrics on the saved file. This
script writes the F16 `model.safetensors` in the project's layout (docs/model-format.md: GPT-2
tensor names, Conv1D `[in, out]` weights), the loss curve, and an expected-output file (ids and
the logits this script computes from the saved F16 weights) that tests/unit/shipped.test.ts
checks the TypeScript forward against.

Why PyTorch: the same model trains about 20x faster here than on tfjs-wasm (docs/training.md).
Both twins get the same initial weights (same seed; LayerNorms draw nothing), the same batches in
the same order and the same schedule: only the norm placement differs.
"""

import argparse
import json
import math
import struct
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CONTEXT = 128


class Attention(nn.Module):
    def __init__(self, d, heads, dropout):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.dropout = dropout

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        split = lambda z: z.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        y = F.scaled_dot_product_attention(
            split(q), split(k), split(v), is_causal=True,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.c_proj(y.transpose(1, 2).reshape(b, t, d))

    def probs(self, x):
        """Attention probabilities [b, h, t, t], for the induction score."""
        b, t, d = x.shape
        q, k, _ = self.c_attn(x).split(d, dim=2)
        split = lambda z: z.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(d // self.heads)
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        return scores.masked_fill(~mask, float("-inf")).softmax(-1)


class Block(nn.Module):
    def __init__(self, d, heads, inner, norm, dropout):
        super().__init__()
        self.norm = norm
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        self.attn = Attention(d, heads, dropout)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.c_fc = nn.Linear(d, inner)
        self.c_proj = nn.Linear(inner, d)
        self.drop = nn.Dropout(dropout)

    def mlp(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))  # exact (erf) GELU: activation_function "gelu"

    def forward(self, x, on_attention=None):
        if self.norm == "pre":  # x + f(LN(x))
            h = self.ln_1(x)
            if on_attention:
                on_attention(self.attn.probs(h))
            x = x + self.drop(self.attn(h))
            return x + self.drop(self.mlp(self.ln_2(x)))
        if on_attention:  # post: LN(x + f(x))
            on_attention(self.attn.probs(x))
        x = self.ln_1(x + self.drop(self.attn(x)))
        return self.ln_2(x + self.drop(self.mlp(x)))


class GPT(nn.Module):
    def __init__(self, vocab, d, layers, heads, inner, norm, dropout):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(CONTEXT, d)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList(Block(d, heads, inner, norm, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d, eps=1e-5) if norm == "pre" else None
        # GPT-2's initialisation: N(0, 0.02), residual projections scaled by 1/√(2·layers).
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln_" in name:
                nn.init.ones_(p)
            else:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, std=std)

    def forward(self, ids, on_attention=None):
        t = ids.shape[1]
        x = self.drop(self.wte(ids) + self.wpe(torch.arange(t)))
        for i, block in enumerate(self.h):
            x = block(x, (lambda p, i=i: on_attention(i, p)) if on_attention else None)
        if self.ln_f is not None:
            x = self.ln_f(x)
        return x @ self.wte.weight.T  # tied head


def tensors_of(model):
    """Parameters under the project's names and layout (Conv1D weights `[in, out]`)."""
    out = {"wte.weight": model.wte.weight, "wpe.weight": model.wpe.weight}
    for i, b in enumerate(model.h):
        p = f"h.{i}."
        out[p + "ln_1.weight"], out[p + "ln_1.bias"] = b.ln_1.weight, b.ln_1.bias
        out[p + "ln_2.weight"], out[p + "ln_2.bias"] = b.ln_2.weight, b.ln_2.bias
        out[p + "attn.c_attn.weight"] = b.attn.c_attn.weight.T
        out[p + "attn.c_attn.bias"] = b.attn.c_attn.bias
        out[p + "attn.c_proj.weight"] = b.attn.c_proj.weight.T
        out[p + "attn.c_proj.bias"] = b.attn.c_proj.bias
        out[p + "mlp.c_fc.weight"] = b.c_fc.weight.T
        out[p + "mlp.c_fc.bias"] = b.c_fc.bias
        out[p + "mlp.c_proj.weight"] = b.c_proj.weight.T
        out[p + "mlp.c_proj.bias"] = b.c_proj.bias
    if model.ln_f is not None:
        out["ln_f.weight"], out["ln_f.bias"] = model.ln_f.weight, model.ln_f.bias
    return {k: v.detach().to(torch.float16).contiguous() for k, v in out.items()}


def write_safetensors(path, tensors):
    """F16 safetensors: sorted keys, contiguous data from offset 0, header padded to 8 bytes."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].numpy().astype("<f2").tobytes()
        header[name] = {"dtype": "F16", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    """The F16 tensors write_safetensors wrote, by name, as float32."""
    raw = Path(path).read_bytes()
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + size])
    base = 8 + size
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F16", f"{name}: {info['dtype']}"
        begin, end = info["data_offsets"]
        values = np.frombuffer(raw[base + begin:base + end], dtype="<f2").astype(np.float32)
        out[name] = torch.from_numpy(values.reshape(info["shape"]).copy())
    return out


def load_weights(model, tensors):
    with torch.no_grad():
        for name, value in tensors.items():
            target = resolve(model, name)
            target.copy_(value.float().T if value.ndim == 2 and transposed(name) else value.float())


def transposed(name):
    return any(name.endswith(s) for s in ("c_attn.weight", "c_proj.weight", "c_fc.weight"))


def resolve(model, name):
    if name in ("wte.weight", "wpe.weight"):
        return getattr(model, name.split(".")[0]).weight
    if name.startswith("ln_f."):
        return getattr(model.ln_f, name.split(".")[1])
    _, i, *rest = name.split(".")
    b = model.h[int(i)]
    module = {"ln_1": b.ln_1, "ln_2": b.ln_2, "attn.c_attn": b.attn.c_attn,
              "attn.c_proj": b.attn.c_proj, "mlp.c_fc": b.c_fc, "mlp.c_proj": b.c_proj}[".".join(rest[:-1])]
    return getattr(module, rest[-1])


@torch.no_grad()
def mean_loss(model, tokens, windows=None):
    model.eval()
    n = (len(tokens) - 1) // CONTEXT
    if windows:
        n = min(n, windows)
    losses = []
    for start in range(0, n, 32):
        rows = range(start, min(n, start + 32))
        x = torch.stack([tokens[r * CONTEXT:(r + 1) * CONTEXT] for r in rows])
        y = torch.stack([tokens[r * CONTEXT + 1:(r + 1) * CONTEXT + 1] for r in rows])
        losses.append(F.cross_entropy(model(x).flatten(0, 1), y.flatten(), reduction="sum").item())
    model.train()
    return sum(losses) / (n * CONTEXT)


def repeated(first):
    """Each row of `first` written twice: [rows, 2 · half]."""
    return torch.cat([first, first], dim=1)


@torch.no_grad()
def probe(model, ids, half):
    """Per head, on rows written twice (half tokens each): the induction score, mean attention from
    token i of the second copy to the token after its first occurrence (i − half + 1), and the
    previous-token score, mean attention from i to i − 1; plus the loss on the second copy."""
    model.eval()
    induction, previous = {}, {}

    def record(layer, probs):
        t = probs.shape[-1]
        q = torch.arange(half, 2 * half)
        induction[layer] = probs[:, :, q, q - half + 1].mean(dim=(0, 2)).tolist()
        i = torch.arange(1, t)
        previous[layer] = probs[:, :, i, i - 1].mean(dim=(0, 2)).tolist()

    logits = model(ids, record)
    second = F.cross_entropy(logits[:, half:-1].flatten(0, 1), ids[:, half + 1:].flatten()).item()
    model.train()
    layers = range(len(model.h))
    return {"induction": [induction[i] for i in layers], "previous_token": [previous[i] for i in layers],
            "second_copy_loss": second}


def probe_sets(vocab, seen, val, rows=16, seed=7):
    """The probes: random tokens (any id, as the TypeScript probe; and ids that occur in the
    training text, whose embeddings were trained) and validation text, each written twice."""
    g = torch.Generator().manual_seed(seed)
    text_half = 50
    starts = torch.arange(rows) * ((len(val) - text_half) // rows)
    return {
        "random": (repeated(torch.randint(0, vocab - 1, (rows, 24), generator=g)), 24),
        "random_seen": (repeated(seen[torch.randint(0, len(seen), (rows, 24), generator=g)]), 24),
        "text": (repeated(torch.stack([val[s:s + text_half] for s in starts])), text_half),
    }


def best_head(scores):
    flat = [(v, f"{l}.{h}") for l, row in enumerate(scores) for h, v in enumerate(row)]
    return "%s %.3f" % max(flat)[::-1]


def print_probes(model, probes, step):
    found = {name: probe(model, *p) for name, p in probes.items()}
    print(f"probe {step} " + " | ".join(
        f"{name}: copy loss {f['second_copy_loss']:.2f} ind {best_head(f['induction'])} "
        f"prev {best_head(f['previous_token'])}" for name, f in found.items()), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="the model's config.json (attention-lab)")
    ap.add_argument("--data", required=True, help="folder with train.u16 and validation.u16")
    ap.add_argument("--out", required=True, help="where model.safetensors goes")
    ap.add_argument("--curve", required=True, help="where the loss curve (JSON) goes")
    ap.add_argument("--expected", required=True, help="where the expected logits (JSON) go")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--dropout", type=float, default=0.2,
                    help="on embeddings, residual branches and attention probabilities")
    ap.add_argument("--probe-every", type=int, default=0, help="print the induction probes every N steps")
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--final-lr", type=float, default=1.5e-4)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--repeat-rows", type=float, default=0.1,
                    help="fraction of each batch whose window is a text span written twice")
    ap.add_argument("--random-repeat-rows", type=float, default=0.0,
                    help="fraction of each batch that starts with random tokens written twice")
    ap.add_argument("--filled-repeat-rows", type=float, default=0.0,
                    help="fraction of each batch that is one random block of 4-32 tokens written over and over")
    ap.add_argument("--finetune-from", help="start from these F16 weights (a fresh optimizer)")
    ap.add_argument("--keep", choices=["best", "last"], default="best",
                    help="ship the weights of the best validation point, or of the last step")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    data = Path(args.data)
    train = torch.from_numpy(np.fromfile(data / "train.u16", dtype="<u2").astype(np.int64))
    val = torch.from_numpy(np.fromfile(data / "validation.u16", dtype="<u2").astype(np.int64))
    config = json.loads(Path(args.config).read_text())
    assert config["n_positions"] == CONTEXT and config["activation_function"] == "gelu"
    assert config["position_embedding"] == "learned" and config["tie_word_embeddings"]
    norm, vocab = config["norm_placement"], config["vocab_size"]
    assert config["final_layer_norm"] == (norm == "pre")
    probes = probe_sets(vocab, torch.unique(train), val)
    torch.manual_seed(args.seed)
    model = GPT(vocab, config["n_embd"], config["n_layer"], config["n_head"], config["n_inner"],
                norm, args.dropout)
    if args.finetune_from:
        load_weights(model, read_safetensors(args.finetune_from))
    decay = [p for n, p in model.named_parameters() if p.ndim == 2]
    rest = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.99))
    warmup = args.warmup
    floor = args.final_lr / args.lr  # cosine from the peak down to the final rate, after warmup
    lr_at = lambda s: args.lr * min(1, (s + 1) / warmup) * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1, s / args.steps))))
    batches = torch.Generator().manual_seed(args.seed + 1)  # same batches for both twins

    out = Path(args.out)
    curve = {"steps": [], "train_loss": [], "val_loss": []}
    best = (float("inf"), None, 0)
    started, running = time.time(), []
    if args.probe_every:
        print_probes(model, probes, 0)
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        starts = torch.randint(0, len(train) - CONTEXT - 1, (args.batch,), generator=batches)
        x = torch.stack([train[s:s + CONTEXT] for s in starts])
        y = torch.stack([train[s + 1:s + CONTEXT + 1] for s in starts])
        # Why repeated rows: a text written twice rewards copying the token that followed the
        # current one last time, the job of an induction head, which plain Shakespeare at this
        # scale of training rewards too rarely for the head to form (docs/training.md).
        repeated = int(args.repeat_rows * args.batch)
        if repeated:
            half = CONTEXT // 2
            span = torch.stack([train[s:s + half] for s in starts[:repeated]])
            twice = torch.cat([span, span, span[:, :1]], dim=1)
            x[:repeated], y[:repeated] = twice[:, :CONTEXT], twice[:, 1:CONTEXT + 1]
        # Why random tokens written twice: in text, memorised phrases predict a repeat about as
        # well as copying does, so text repeats alone grew no induction head (docs/training.md).
        # Random tokens can only be predicted by copying; their first copy is noise, not scored.
        for r in range(repeated, repeated + int(args.random_repeat_rows * args.batch)):
            h = int(torch.randint(8, CONTEXT // 2 + 1, (1,), generator=batches))
            block = torch.randint(0, vocab, (h,), generator=batches)
            row = torch.cat([block, block, train[starts[r]:starts[r] + CONTEXT + 1 - 2 * h]])
            x[r], y[r] = row[:CONTEXT], row[1:CONTEXT + 1]
            y[r, :h] = -100
        # Why blocks written over and over: one repeat per row (above) gave too few copy targets
        # for the induction head to form on this compute; a short block repeated to fill the row
        # scores every token after its first copy, and the head formed within ~800 steps
        # (docs/training.md). Its first copy is noise, not scored.
        filled = repeated + int(args.random_repeat_rows * args.batch)
        for r in range(filled, filled + int(args.filled_repeat_rows * args.batch)):
            h = int(torch.randint(4, 33, (1,), generator=batches))
            row = torch.randint(0, vocab, (h,), generator=batches).repeat(CONTEXT // h + 2)
            x[r], y[r] = row[:CONTEXT], row[1:CONTEXT + 1]
            y[r, :h] = -100
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        running.append(loss.item())
        if args.probe_every and (step + 1) % args.probe_every == 0:
            print_probes(model, probes, step + 1)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            val_loss = mean_loss(model, val, windows=64)
            curve["steps"].append(step + 1)
            curve["train_loss"].append(sum(running) / len(running))
            curve["val_loss"].append(val_loss)
            running = []
            rate = (step + 1) * args.batch * CONTEXT / (time.time() - started)
            print(f"step {step + 1} train {curve['train_loss'][-1]:.3f} val {val_loss:.3f} "
                  f"({rate:.0f} tokens/s)", flush=True)
            if val_loss < best[0]:
                best = (val_loss, {k: v.clone() for k, v in model.state_dict().items()}, step + 1)
    elapsed = time.time() - started
    if args.keep == "best":
        model.load_state_dict(best[1])
    else:
        best = (None, None, args.steps)
    model.eval()
    tensors = tensors_of(model)
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors(out / "model.safetensors", tensors)
    load_weights(model, tensors)

    ids = val[:12].tolist()
    with torch.no_grad():
        logits = model(torch.tensor([ids]))[0][-4:]
    Path(args.expected).write_text(json.dumps({
        "what": "logits of the last 4 positions, computed by scripts/torch/train_lm.py from the saved F16 weights",
        "input_ids": ids, "logits": [[round(v, 5) for v in row] for row in logits.tolist()]}))
    Path(args.curve).write_text(json.dumps({
        **curve, "best_step": best[2], "wall_time_s": round(elapsed),
        "trainer": "PyTorch %s, float32, %d thread(s)" % (torch.__version__, args.threads),
        "probes": {name: probe(model, *p) for name, p in probes.items()}}))
    print(f"best step {best[2]}, wall {elapsed:.0f} s", flush=True)


if __name__ == "__main__":
    main()
