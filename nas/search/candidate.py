"""A stored candidate = seed spec + transforms from the root + a state_dict checkpoint.

No pickled modules: the structure is rebuilt by replaying the transforms on the seed model and
the weights are loaded with ``torch.load(weights_only=True)``, so a lineage from elsewhere never
runs code. Checkpoints are Optuna artifacts; the sha256 recorded in the trial's user attrs is
checked on every load, so a checkpoint interrupted mid-write (or corrupted later) is never used.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import optuna
import torch
from optuna.artifacts import upload_artifact
from optuna.artifacts._protocol import ArtifactStore
from torch import nn

from nas.models import build_from_spec
from nas.search.space import replay

__all__ = [
    "CheckpointError",
    "atomic_write_bytes",
    "build_candidate",
    "describe_mismatch",
    "load_state_dict",
    "load_user_checkpoint",
    "save_checkpoint",
    "state_dict_bytes",
]


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupted or does not fit the architecture it belongs to."""


def state_dict_bytes(model: nn.Module) -> bytes:
    """The model's state_dict serialized by torch.save (tensors only)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write via a temp file in the same folder + fsync + rename: readers see all or nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(trial: optuna.Trial, model: nn.Module, store: ArtifactStore) -> dict:
    """Upload the state_dict as an artifact of ``trial`` and record {artifact_id, sha256}.

    Must run before the trial is told: an artifact belongs to a live trial.
    """
    data = state_dict_bytes(model)
    digest = hashlib.sha256(data).hexdigest()
    with tempfile.TemporaryDirectory(prefix="nas-ckpt-") as tmp:
        path = Path(tmp) / f"trial-{trial.number}.pt"
        atomic_write_bytes(path, data)
        artifact_id = upload_artifact(
            artifact_store=store, file_path=str(path), study_or_trial=trial
        )
    ref = {"artifact_id": artifact_id, "sha256": digest, "bytes": len(data)}
    trial.set_user_attr("checkpoint", ref)
    return ref


def load_state_dict(store: ArtifactStore, ref: dict, *, what: str = "checkpoint") -> dict:
    """Read an artifact, verify its sha256, then deserialize tensors only."""
    try:
        with store.open_reader(ref["artifact_id"]) as f:
            data = f.read()
    except Exception as exc:
        raise CheckpointError(
            f"{what}: cannot read artifact {ref.get('artifact_id')}: {exc}"
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != ref.get("sha256"):
        raise CheckpointError(
            f"{what}: sha256 mismatch (stored {str(ref.get('sha256'))[:12]}..., "
            f"read {digest[:12]}...): corrupted or partially written"
        )
    return _torch_load(io.BytesIO(data), what)


def _torch_load(source: io.BytesIO | Path, what: str) -> object:
    """``torch.load(weights_only=True)`` with errors that say what the file is, in one line.

    torch's own message for a file holding Python objects advises ``weights_only=False``, i.e.
    running the file's code; that advice is not passed on.
    """
    try:
        return torch.load(source, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        found = re.findall(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            raise CheckpointError(
                f"{what}: not a weights-only state dict (it holds {found[0]}); only tensors "
                "are loaded, never pickled objects: save model.state_dict() instead"
            ) from None
        reader = re.search(r"WeightsUnpickler error:\s*([^\n]+)", str(exc))
        detail = reader.group(1).strip() if reader else type(exc).__name__
        raise CheckpointError(f"{what}: not a torch.save file of tensors ({detail})") from None
    except Exception as exc:
        text = " ".join(str(exc).split()) if "weights_only" not in str(exc) else ""
        detail = f" ({type(exc).__name__}: {text[:200]})" if text else f" ({type(exc).__name__})"
        raise CheckpointError(f"{what}: not a torch.save file{detail}") from None


def _shape(t: object) -> str:
    return str(list(t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__


def _listed(keys: list[str], limit: int = 3) -> str:
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def describe_mismatch(model: nn.Module, state_dict: Mapping[str, object]) -> str | None:
    """How ``state_dict`` differs from ``model``'s, in one line; None when every tensor fits.

    Names the first keys whose shapes differ with both shapes, then missing and unexpected keys.
    """
    own = model.state_dict()
    shapes = [
        f"{k} is {_shape(v)} in the checkpoint, {_shape(own[k])} in the model"
        for k, v in state_dict.items()
        if k in own and (not isinstance(v, torch.Tensor) or v.shape != own[k].shape)
    ]
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    parts = []
    if shapes:
        parts.append(f"{len(shapes)} tensor(s) differ in shape: {_listed(shapes, 2)}")
    if missing:
        parts.append(f"missing {len(missing)} key(s): {_listed(missing)}")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)} key(s): {_listed(unexpected)}")
    return "; ".join(parts) or None


def build_candidate(
    seed_spec: dict,
    path: list[dict],
    *,
    input_shape: Sequence[int],
    num_classes: int,
    example_input: torch.Tensor,
    state_dict: dict | None = None,
    what: str = "checkpoint",
) -> nn.Module:
    """Seed model -> replay ``path`` -> load ``state_dict`` (strict: every tensor must fit)."""
    model = build_from_spec(seed_spec, input_shape=input_shape, num_classes=num_classes)
    model = replay(model, path, example_input)
    if state_dict is not None:
        mismatch = describe_mismatch(model, state_dict)
        if mismatch:
            raise CheckpointError(f"{what}: does not fit the architecture: {mismatch}")
        try:
            model.load_state_dict(state_dict, strict=True)
        except (RuntimeError, KeyError) as exc:  # not a shape or key problem: say what torch says
            first = " ".join(str(exc).split()) or type(exc).__name__
            raise CheckpointError(f"{what}: does not fit the architecture: {first}") from exc
    return model


def load_user_checkpoint(path: str | Path) -> dict:
    """A state_dict the user trained before (``model.checkpoint=PATH``), tensors only."""
    if not Path(path).is_file():
        raise CheckpointError(f"model.checkpoint: no such file {path}")
    obj = _torch_load(Path(path), f"model.checkpoint: {path}")
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"model.checkpoint: {path} holds a {type(obj).__name__}, not a state dict"
        )
    odd = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if odd:
        raise CheckpointError(
            f"model.checkpoint: {path} is a dict but not a state dict: {odd[0]!r} holds a "
            f"{type(obj[odd[0]]).__name__}, not a tensor (save model.state_dict())"
        )
    return obj
