"""Check a study after (or while) workers ran it: budget, RUNNING leftovers, lineage, checkpoints.

Every finished candidate's checkpoint is read back (sha256 checked), rebuilt by replaying its
mutation path on the seed model, and scored again on the val split: the accuracy must equal the
value the study recorded, bit for bit (accuracy is a count over the same examples).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import optuna
from optuna.artifacts._protocol import ArtifactStore
from optuna.trial import FrozenTrial, TrialState

from nas.data import DataBundle
from nas.search import candidate as cand
from nas.search.metrics import accuracy64

__all__ = ["StudyAudit", "audit_study"]

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class StudyAudit:
    """What ``audit_study`` found; ``ok`` when nothing is wrong."""

    finished: int = 0
    failed: int = 0
    running: list[int] = field(default_factory=list)
    orphans: list[int] = field(default_factory=list)  # see _orphan
    checked: int = 0  # checkpoints loaded, rebuilt and re-scored
    mismatches: list[str] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)  # host:pid of the finished candidates

    @property
    def ok(self) -> bool:
        return not (self.running or self.orphans or self.mismatches)


def _orphan(t: FrozenTrial, by_number: dict[int, FrozenTrial]) -> bool:
    """A child whose parent is not a COMPLETE trial with a checkpoint that finished before it,
    or whose architecture is not its parent's plus its own mutation. (A parent may complete
    after the child was *asked*: another worker's tell can land between this worker's ask and
    its choice of parent.)"""
    parent = t.user_attrs.get("parent")
    if parent is None:
        return False
    p = by_number.get(parent)
    if p is None or p.state != TrialState.COMPLETE or not p.user_attrs.get("checkpoint"):
        return True
    if p.datetime_complete is None or t.datetime_complete is None:
        return True
    path = t.user_attrs.get("arch", {}).get("path")
    expected = p.user_attrs.get("arch", {}).get("path", []) + (t.user_attrs.get("mutation") or [])
    return p.datetime_complete > t.datetime_complete or path != expected


def audit_study(study: optuna.Study, store: ArtifactStore, data: DataBundle) -> StudyAudit:
    """Audit every trial of ``study`` (its seed model is the study's ``seed_model`` attribute)."""
    trials = study.get_trials(deepcopy=False)
    seed_spec = study.user_attrs["seed_model"]
    by_number = {t.number: t for t in trials}
    example = next(iter(data.train))[0][:2]
    out = StudyAudit()
    workers = set()
    for t in trials:
        if t.state == TrialState.RUNNING:
            out.running.append(t.number)
        elif t.state == TrialState.FAIL:
            out.failed += 1
        if t.state not in FINISHED:
            continue
        out.finished += 1
        w = t.user_attrs.get("worker") or {}
        workers.add(f"{w.get('host')}:{w.get('pid')}")
        if _orphan(t, by_number):
            out.orphans.append(t.number)
        ref = t.user_attrs.get("checkpoint")
        if t.state != TrialState.COMPLETE or not ref:
            continue
        what = f"trial {t.number}"
        try:
            model = cand.build_candidate(
                seed_spec, t.user_attrs.get("arch", {}).get("path", []),
                input_shape=data.input_shape, num_classes=data.num_classes,
                example_input=example, state_dict=cand.load_state_dict(store, ref, what=what),
                what=what,
            )  # fmt: skip
        except cand.CheckpointError as exc:
            out.mismatches.append(str(exc))
            continue
        acc = accuracy64(model, data.val)
        out.checked += 1
        if acc != t.values[0]:
            out.mismatches.append(f"{what}: val acc {acc!r} != recorded {t.values[0]!r}")
    out.workers = sorted(workers)
    return out
