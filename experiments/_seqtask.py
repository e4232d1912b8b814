r"""A tiny post-LN Transformer on a synthetic sequence task, shared by experiments 4 and 6.

The paper's Transformer experiments (Fig. 1, Fig. 3; ALGORITHMS §1.2, §1.10) train fairseq's
``transformer_iwslt_de_en`` on IWSLT'14 De-En.  This is a CPU-sized stand-in with the same
structural choices where they matter for the first steps (constants are ours):

* **post-LN** residual blocks, ``x ← LN(x + Attn(x))``, ``x ← LN(x + FFN(x))`` — fairseq's
  default (``normalize_before=False``) and the variant that needs warmup (Xiong et al. 2020,
  "On Layer Normalization in the Transformer Architecture");
* token embedding scaled by √d and initialized N(0, d^{-1/2}), sinusoidal positions, ReLU FFN —
  as fairseq; no dropout (ours: keeps the runs deterministic and short);
* a **decoder-only** model with a causal mask on ``x SEP y`` and the teacher-forced
  cross-entropy on the ``y`` half only, with label smoothing 0.1 as fairseq's
  ``label_smoothed_cross_entropy`` (ours: decoder-only instead of encoder-decoder).

Task: ``x`` is a uniform random string of ``length`` symbols, ``y`` its reverse (or a copy).
The sequences come from a seeded ``torch.Generator``, so two runs with the same seed see the same
batches in the same order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

TASKS = ("reverse", "copy")


@dataclass(frozen=True)
class SeqTask:
    """Synthetic copy/reverse task: ``symbols`` letters, strings of ``length``, token ``symbols`` = SEP."""

    symbols: int = 16
    length: int = 8
    task: str = "reverse"

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}; got {self.task!r}")

    @property
    def vocab(self) -> int:
        return self.symbols + 1

    @property
    def sep(self) -> int:
        return self.symbols

    @property
    def seq_len(self) -> int:
        """Length of the model input ``x SEP y[:-1]``."""
        return 2 * self.length

    def batch(self, gen: torch.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch ``(inputs, targets)``: inputs ``x SEP y[:-1]``, targets ``y`` (both int64)."""
        x = torch.randint(0, self.symbols, (size, self.length), generator=gen)
        y = x.flip(1) if self.task == "reverse" else x
        sep = torch.full((size, 1), self.sep, dtype=x.dtype)
        inputs = torch.cat([x, sep, y[:, :-1]], dim=1)
        return inputs, y

    def batches(self, seed: int, size: int, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``count`` batches from a generator seeded with ``seed`` (the data order of a run)."""
        gen = torch.Generator().manual_seed(int(seed))
        return [self.batch(gen, size) for _ in range(count)]


def sinusoidal(positions: int, dim: int) -> torch.Tensor:
    """Vaswani et al. (2017) positional table ``(positions, dim)``: sin on even, cos on odd columns."""
    pos = torch.arange(positions, dtype=torch.float64)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    table = torch.zeros(positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table.float()


class TinyTransformer(nn.Module):
    """Decoder-only Transformer of ``layers`` post-LN (or pre-LN) blocks of torch's
    ``nn.TransformerEncoderLayer`` with a causal mask.

    Parameters
    ----------
    vocab : number of tokens.
    dim, heads, layers, ffn : width, attention heads, blocks, FFN hidden width.
    max_len : longest input.
    post_ln : ``True`` (fairseq's default) for ``LN(x + f(x))``; ``False`` for ``x + f(LN(x))``.
    """

    def __init__(self, vocab: int, *, dim: int = 64, heads: int = 4, layers: int = 2, ffn: int = 256,
                 max_len: int = 64, post_ln: bool = True):
        super().__init__()
        self.dim = dim
        self.embed = nn.Embedding(vocab, dim)
        nn.init.normal_(self.embed.weight, std=dim ** -0.5)          # fairseq's Embedding init
        self.register_buffer("positions", sinusoidal(max_len, dim), persistent=False)
        block = nn.TransformerEncoderLayer(dim, heads, ffn, dropout=0.0, activation="relu",
                                           batch_first=True, norm_first=not post_ln)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.final_norm = None if post_ln else nn.LayerNorm(dim)     # pre-LN needs a last LN
        self.head = nn.Linear(dim, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n = tokens.shape[1]
        h = self.embed(tokens) * math.sqrt(self.dim) + self.positions[:n]
        mask = nn.Transformer.generate_square_subsequent_mask(n, dtype=h.dtype)
        h = self.blocks(h, mask=mask, is_causal=True)
        if self.final_norm is not None:
            h = self.final_norm(h)
        return self.head(h)


def seq_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], *, length: int,
             smoothing: float = 0.1) -> torch.Tensor:
    """Teacher-forced cross-entropy (label smoothing ``smoothing``) on the answer half, mean per token.

    The model reads ``x SEP y[:-1]``; the logits at positions ``length .. 2·length−1`` predict
    ``y``.
    """
    inputs, targets = batch
    logits = model(inputs)[:, length:, :]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), label_smoothing=smoothing)


def accuracy(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], *, length: int) -> float:
    """Teacher-forced token accuracy on the answer half."""
    inputs, targets = batch
    with torch.no_grad():
        pred = model(inputs)[:, length:, :].argmax(-1)
    return float((pred == targets).double().mean())


def build(task: SeqTask, seed: int, **model_kw) -> TinyTransformer:
    """The model with weights drawn from ``torch.manual_seed(seed)`` (same seed → same init)."""
    torch.manual_seed(int(seed))
    return TinyTransformer(task.vocab, max_len=task.seq_len, **model_kw)


def snapshot(model: nn.Module) -> list[torch.Tensor]:
    """Detached copies of the trainable parameters (for update sizes)."""
    return [p.detach().clone() for p in model.parameters() if p.requires_grad]


def param_names(model: nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]
