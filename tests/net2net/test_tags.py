"""Channel tags on their own: compact ids, ops applied to ids, matching old and new positions."""

from __future__ import annotations

import torch

from nas.net2net.width.tags import (
    MASK,
    SHIFT,
    TV,
    Unions,
    apply_ids,
    atoms,
    compact,
    decode,
    match_positions,
    rep_along,
    unit_axes,
)


def channel_ids(first: int, channels: int, shape: tuple[int, ...]) -> TV:
    """A channels-first activation of ``shape`` whose channel c carries atom first + c."""
    ids = (torch.arange(channels) + first).reshape(1, channels, *[1] * (len(shape) - 2))
    return TV(torch.empty(shape, device="meta"), ids)


def test_compact_keeps_only_the_axes_that_vary() -> None:
    full = torch.arange(1, 4).reshape(1, 3, 1).expand(2, 3, 5)
    assert compact(full.clone()).shape == (1, 3, 1)
    assert torch.equal(compact(full.clone()).reshape(-1), torch.tensor([1, 2, 3]))
    constant = torch.full((2, 4), 7)
    assert compact(constant).shape == (1, 1)


def test_unit_axes_and_atoms() -> None:
    tv = channel_ids(5, 3, (2, 3, 4))
    assert unit_axes(tv) == [1] and unit_axes(TV(tv.meta)) == []
    replica = torch.tensor([5, 6, 5 + (1 << SHIFT), 0])
    assert atoms(replica).tolist() == [5, 6] and atoms(None).numel() == 0
    atom, rep = decode(replica)
    assert atom.tolist() == [5, 6, 5, 0] and rep.tolist() == [-1, -1, 0, -1]


def test_flatten_gives_channel_major_blocks() -> None:
    """Flatten (N, C, L) -> (N, C*L): each channel becomes a block of L features."""
    tv = channel_ids(1, 3, (2, 3, 2))
    out = torch.flatten(tv.meta, 1)
    ids = apply_ids(torch.flatten, [tv], out, lambda ids: torch.flatten(ids[0], 1))
    assert ids.shape[-1] == 6  # compact ids do not broadcast here: materialized, re-compacted
    assert ids.reshape(-1).tolist() == [1, 1, 2, 2, 3, 3]


def test_cat_keeps_each_segment_at_its_offset() -> None:
    a, b = channel_ids(1, 2, (1, 2, 4)), channel_ids(10, 3, (1, 3, 4))
    out = torch.cat([a.meta, b.meta], 1)
    ids = apply_ids(torch.cat, [a, b], out, lambda i: torch.cat(i, 1))
    assert ids.reshape(-1).tolist() == [1, 2, 10, 11, 12]


def test_rep_along_takes_the_first_tagged_id_per_position() -> None:
    ids = torch.tensor([[0, 4], [3, 0], [0, 0]])  # positions along axis 0
    rep, rows = rep_along(ids, 0, 3)
    assert rep.tolist() == [4, 3, 0] and rows.shape == (3, 2)
    rep, _ = rep_along(None, 1, 5)
    assert rep.tolist() == [0] * 5


def test_match_positions_follows_replicas_and_occurrence_order() -> None:
    old = torch.tensor([1, 2, 1, 2])  # two blocks of units 1, 2 (e.g. after a flatten)
    copy_of_2 = 2 + (3 << SHIFT)  # replica 2 of atom 2: a new unit that copies unit 2
    new = torch.tensor([1, 2, copy_of_2, 1, 2, copy_of_2])
    assert match_positions(old, new).tolist() == [0, 1, 1, 2, 3, 3]
    assert match_positions(old, torch.tensor([1, 5])) is None  # atom 5 was never there
    assert int(torch.tensor(copy_of_2) & MASK) == 2


def test_unions_label_connected_atoms_by_their_smallest() -> None:
    u = Unions()
    u.add(torch.tensor([1, 2, 5]), torch.tensor([2, 3, 4]))
    u.add(torch.tensor([0, 6]), torch.tensor([7, 6]))  # zeros and self-edges are ignored
    assert u.labels(8).tolist() == [0, 1, 1, 1, 4, 4, 6, 7]
    chain = Unions()
    chain.add(torch.arange(1, 20), torch.arange(2, 21))  # a long chain: pointer jumping
    assert chain.labels(21)[1:].tolist() == [1] * 20
