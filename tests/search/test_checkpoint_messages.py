"""Checkpoint errors that help: which tensors do not fit (both shapes), which keys are missing or
unexpected, and a file of pickled objects refused without advising ``weights_only=False``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from nas.models import build_from_spec, model_spec
from nas.search.candidate import (
    CheckpointError,
    build_candidate,
    describe_mismatch,
    load_user_checkpoint,
)

SHAPE = (1, 40)
EXAMPLE = torch.randn(2, *SHAPE)


def _spec(widths: list[int]) -> dict:
    return model_spec("cnn1d", widths=widths, blocks=1, kernel_size=5)


def _state(widths: list[int]) -> dict:
    torch.manual_seed(0)
    return build_from_spec(_spec(widths), input_shape=SHAPE, num_classes=10).state_dict()


def _build(state: dict) -> nn.Module:
    return build_candidate(
        _spec([8, 8]), [], input_shape=SHAPE, num_classes=10, example_input=EXAMPLE,
        state_dict=state, what="model.checkpoint",
    )  # fmt: skip


def test_wrong_shapes_name_the_first_keys_with_both_shapes() -> None:
    state = _state([16, 8])  # the first conv is twice as wide as the model's
    with pytest.raises(CheckpointError) as err:
        _build(state)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("model.checkpoint: does not fit the architecture: ")
    first = next(iter(state))  # features.0.weight: [16, 1, 5] against [8, 1, 5]
    assert f"{first} is [16, 1, 5] in the checkpoint, [8, 1, 5] in the model" in msg
    wrong = [k for k, v in state.items() if v.shape != _state([8, 8])[k].shape]
    assert f"{len(wrong)} tensor(s) differ in shape" in msg
    assert f"(+{len(wrong) - 2} more)" in msg  # two named, the rest counted
    assert "missing" not in msg and "unexpected" not in msg


def test_missing_and_unexpected_keys_are_named() -> None:
    state = _state([8, 8])
    dropped = list(state)[1]
    del state[dropped]
    state["head.extra"] = torch.zeros(3)
    msg = describe_mismatch(
        build_from_spec(_spec([8, 8]), input_shape=SHAPE, num_classes=10), state
    )
    assert msg == f"missing 1 key(s): {dropped}; unexpected 1 key(s): head.extra"
    with pytest.raises(CheckpointError, match="missing 1 key"):
        _build(state)


def test_a_fitting_state_dict_loads() -> None:
    state = _state([8, 8])
    model = _build(state)
    assert describe_mismatch(model, state) is None
    assert torch.equal(model.state_dict()[next(iter(state))], next(iter(state.values())))


class _Config:  # a Python object inside a checkpoint: weights_only refuses to unpickle it
    lr = 0.1


@pytest.mark.parametrize("kind", ["object", "module"])
def test_pickled_objects_are_refused_without_unsafe_advice(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "ckpt.pt"
    if kind == "object":
        torch.save({"state_dict": _state([8, 8]), "config": _Config()}, path)
    else:  # the whole model pickled, the most common mistake
        torch.save(build_from_spec(_spec([8, 8]), input_shape=SHAPE, num_classes=10), path)
    with pytest.raises(CheckpointError) as err:
        load_user_checkpoint(path)
    msg = str(err.value)
    assert msg.startswith(f"model.checkpoint: {path}: not a weights-only state dict (it holds ")
    assert "weights_only" not in msg and "\n" not in msg
    assert ("_Config" if kind == "object" else "torch.nn.modules") in msg


def test_other_files_say_what_they_are(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"not a torch\.save file"):
        load_user_checkpoint(junk)
    meta = tmp_path / "meta.pt"
    torch.save({"epoch": 3, "weight": torch.zeros(2)}, meta)
    with pytest.raises(CheckpointError, match=r"is a dict but not a state dict: 'epoch' holds"):
        load_user_checkpoint(meta)
    seq = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], seq)
    with pytest.raises(CheckpointError, match="holds a list, not a state dict"):
        load_user_checkpoint(seq)
    with pytest.raises(CheckpointError, match="no such file"):
        load_user_checkpoint(tmp_path / "missing.pt")
