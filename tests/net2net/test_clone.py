"""clone_module: the copy every transform makes must be what copy.deepcopy gives, faster."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import fx, nn

from nas.net2net.graph.clone import clone_module


class Tied(nn.Module):
    """Shared weights and modules, a buffer view, a hook, mutable and plain attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 6)
        self.head = nn.Linear(6, 10, bias=False)
        self.head.weight = self.emb.weight  # tied
        self.again = self.head  # the same module under two names
        self.register_buffer("table", torch.arange(12.0))
        self.register_buffer("front", self.table[:6])  # a view of another buffer
        self.register_buffer("plain", torch.ones(3), persistent=False)
        self.history: list[int] = [1, 2]
        self.config = {"k": [3]}
        self.scale = 0.5
        self.calls = 0
        self.head.register_forward_hook(self._count)

    def _count(self, _m: nn.Module, _i: tuple, _o: torch.Tensor) -> None:
        self.calls += 1

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.again(self.emb(idx) * self.scale) + self.front.sum()


def _storages(m: nn.Module) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in (*m.parameters(), *m.buffers())}


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "vit_b_16", "convnext_tiny"])
def test_clone_of_torchvision_model_equals_deepcopy_and_shares_no_tensor(name: str) -> None:
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None).eval()
    ours, ref = clone_module(model), copy.deepcopy(model)
    assert type(ours) is type(model)
    a, b = ours.state_dict(), ref.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not _storages(ours) & _storages(model)
    assert [type(m) for m in ours.modules()] == [type(m) for m in model.modules()]
    assert not {id(m) for m in ours.modules()} & {id(m) for m in model.modules()}
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(ours(x), model(x))


def test_clone_keeps_what_is_shared_shared_and_copies_the_rest() -> None:
    torch.manual_seed(0)
    model = Tied()
    new = clone_module(model)
    assert new.head.weight is new.emb.weight and new.head.weight is not model.emb.weight
    assert new.again is new.head
    assert new.front.untyped_storage().data_ptr() == new.table.untyped_storage().data_ptr()
    assert new.table.untyped_storage().data_ptr() != model.table.untyped_storage().data_ptr()
    assert new._non_persistent_buffers_set == {"plain"}
    assert new.history == [1, 2] and new.history is not model.history
    assert new.config == {"k": [3]} and new.config["k"] is not model.config["k"]
    new(torch.tensor([1, 2]))  # the hook is the clone's own bound method, as with deepcopy
    assert (new.calls, model.calls) == (1, 0)
    assert new.emb.weight.requires_grad
    with torch.no_grad():
        new.emb.weight.add_(1.0)
        new.table.add_(1.0)
    assert float(new.front[0]) == 1.0 and float(model.table[0]) == 0.0


def test_clone_honours_a_prefilled_memo_and_graph_modules() -> None:
    lin = nn.Linear(3, 2)
    cast = nn.Parameter(lin.weight.detach().double())
    new = clone_module(nn.Sequential(lin, nn.ReLU()), {id(lin.weight): cast})
    assert new[0].weight is cast and new[0].bias.dtype == torch.float32
    gm = fx.symbolic_trace(nn.Sequential(nn.Linear(3, 3), nn.ReLU()))
    wrapped = nn.Sequential(gm)
    new = clone_module(wrapped)
    assert isinstance(new[0], fx.GraphModule) and new[0] is not gm
    x = torch.randn(4, 3)
    assert torch.equal(new(x), wrapped(x))


def test_clone_runs_a_classes_own_setstate_like_deepcopy() -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(4, 3, num_layers=2)  # its __setstate__ rebuilds the flat weight list
    new = clone_module(lstm)
    assert all(a is b for a, b in zip(new._flat_weights, new.parameters(), strict=True))
    x = torch.randn(5, 2, 4)
    assert torch.equal(new(x)[0], lstm(x)[0])
    with torch.no_grad():
        new.weight_ih_l0.add_(1.0)
    assert not torch.equal(new(x)[0], lstm(x)[0])
