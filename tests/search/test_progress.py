"""The console lines: a time-left estimate that follows growing candidate costs, and every line
also logged (so Hydra's job log in the run folder holds them)."""

from __future__ import annotations

import logging

import pytest

from nas.search.progress import estimate_seconds_left


def _mean_estimate(costs: list[tuple[int, float]], remaining: int) -> float:
    """What the console said before: the mean cost so far times the candidates left."""
    return sum(c for _, c in costs) / len(costs) * remaining


def test_linear_growth_is_predicted_exactly() -> None:
    costs = [(i, 10.0 + 5.0 * i) for i in range(1, 10)]  # trials 1..9 measured, 10..19 to come
    truth = sum(10.0 + 5.0 * i for i in range(10, 20))  # 825 s
    assert estimate_seconds_left(costs, range(10, 20)) == pytest.approx(truth)
    assert _mean_estimate(costs, 10) < 0.5 * truth  # the mean said 350 s


def test_geometric_growth_is_nearer_than_the_mean() -> None:
    cost = [2.0 ** (i / 2) for i in range(20)]  # doubling every two candidates
    costs = [(i, cost[i]) for i in range(1, 10)]
    truth = sum(cost[10:])
    estimate = estimate_seconds_left(costs, range(10, 20))
    assert abs(estimate - truth) < abs(_mean_estimate(costs, 10) - truth)
    assert estimate > 2 * _mean_estimate(costs, 10)


def test_falling_or_flat_costs_give_the_mean_and_nothing_left_gives_zero() -> None:
    falling = [(i, 100.0 - 5.0 * i) for i in range(1, 6)]
    assert estimate_seconds_left(falling, range(6, 10)) == pytest.approx(4 * 85.0)
    assert estimate_seconds_left([(3, 7.0)], [4, 5]) == pytest.approx(14.0)
    assert estimate_seconds_left([], [1, 2]) == 0.0
    assert estimate_seconds_left([(1, 5.0)], []) == 0.0


def test_every_console_line_is_logged(tiny_search, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="nas.search.progress")
    job = tiny_search(trials=3, study="logged")
    job.env.progress = True  # the console lines (and so the log) are on, as in nas-search
    summary = job.run()
    lines = [r.getMessage() for r in caplog.records if r.name == "nas.search.progress"]
    assert lines[0].startswith("search: new study logged (accuracy, warm start): 0/3")
    candidates = [ln for ln in lines if ln.startswith("[")]
    assert [ln.split()[0] for ln in candidates] == ["[1/3]", "[2/3]", "[3/3]"]
    assert candidates[0].startswith("[1/3] #0 complete root | val ")
    assert all("s elapsed, ~" in ln and "s left" in ln for ln in candidates)
    assert "[green]" not in "".join(lines)  # plain text, not rich markup
    table = lines[-1]  # the summary, as printed
    assert f"best: trial #{summary.best_trial}" in table and "study logged" in table
