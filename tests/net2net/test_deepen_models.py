"""Small random architectures for the deepening tests (shared by the unit and property tests)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CONV = {1: nn.Conv1d, 2: nn.Conv2d}
BN = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d}


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics/affines and biases, so an inexact block cannot hide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.3)
            elif isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.3)
    return model


class FunctionalReluCNN(nn.Module):
    """conv -> bn -> F.relu: the activation is a function call, not a module."""

    def __init__(self, dim: int, c: int) -> None:
        super().__init__()
        self.conv = CONV[dim](1, c, 3, padding=1)
        self.bn = BN[dim](c)
        self.pool = POOL[dim](1)
        self.head = nn.Linear(c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x)))
        return self.head(self.pool(x).flatten(1))


class ResBlock(nn.Module):
    """Post-activation basic block; projection shortcut when the shape changes."""

    def __init__(self, dim: int, c_in: int, c_out: int, stride: int = 1, pre_act: bool = False):
        super().__init__()
        self.pre_act = pre_act
        self.conv1 = CONV[dim](c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = BN[dim](c_out)
        self.conv2 = CONV[dim](c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = BN[dim](c_out)
        self.proj = None
        if stride != 1 or c_in != c_out:
            self.proj = nn.Sequential(CONV[dim](c_in, c_out, 1, stride, bias=False), BN[dim](c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.proj is None else self.proj(x)
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return out + skip if self.pre_act else F.relu(out + skip)


def resnet(dim: int, widths: list[int], blocks: int, pre_act: bool = False) -> nn.Module:
    layers: list[nn.Module] = [CONV[dim](1, widths[0], 3, padding=1), BN[dim](widths[0]), nn.ReLU()]
    c = widths[0]
    for s, w in enumerate(widths):
        for b in range(blocks):
            layers.append(ResBlock(dim, c, w, 2 if s and not b else 1, pre_act))
            c = w
    return nn.Sequential(
        nn.Sequential(*layers[:3]),
        nn.Sequential(*layers[3:]),
        POOL[dim](1),
        nn.Flatten(),
        nn.Linear(c, 3),
    )


class PreNormBlock(nn.Module):
    """x + attn(ln(x)); x + mlp(ln(x)) with GELU: only a residual insertion is exact here."""

    def __init__(self, d: int, heads: int, builtin_attention: bool) -> None:
        super().__init__()
        self.builtin = builtin_attention
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        if builtin_attention:
            self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        else:
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.heads = heads
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        if self.builtin:
            a = self.attn(h, h, h, need_weights=False)[0]
        else:
            b, n, d = x.shape
            q, k, v = self.qkv(h).reshape(b, n, 3, self.heads, d // self.heads).unbind(2)
            o = F.scaled_dot_product_attention(
                q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            )
            a = self.proj(o.transpose(1, 2).reshape(b, n, d))
        x = x + a
        return x + self.mlp(self.ln2(x))


def transformer(d: int, heads: int, layers: int, builtin_attention: bool) -> nn.Module:
    return nn.Sequential(
        nn.Linear(5, d),
        nn.Sequential(*[PreNormBlock(d, heads, builtin_attention) for _ in range(layers)]),
        nn.LayerNorm(d),
        nn.Linear(d, 3),
    )


def cnn(dim: int, widths: list[int], kernel: int, act: type[nn.Module] = nn.ReLU) -> nn.Module:
    layers: list[nn.Module] = []
    c = 1
    for w in widths:
        layers += [CONV[dim](c, w, kernel, padding=kernel // 2), BN[dim](w), act()]
        c = w
    return nn.Sequential(*layers, POOL[dim](1), nn.Flatten(), nn.Linear(c, 3))


def mlp(widths: list[int], act: type[nn.Module] = nn.ReLU, d_in: int = 6) -> nn.Module:
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Linear(d_in, w), act()]
        d_in = w
    return nn.Sequential(*layers, nn.Linear(d_in, 3))
