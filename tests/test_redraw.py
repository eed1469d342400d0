"""redraw.best_of: the one best-of-N mechanism, and the engine-round budget every paper's draws share."""

from __future__ import annotations

import pytest

from summarizer.engine import Generation
from summarizer.redraw import Drawn, best_of, charge


def gen(key: str, tokens: int = 5) -> Generation:
    return Generation(key=key, text="", prompt_tokens=10, completion_tokens=tokens, seconds=0.5, truncated=False,
                      finished=True)


def scripted(problems: dict[str, list[int]], calls: list):
    """A draw whose n-th draw of key k has problems[k][n] problems (value: (k, n))."""

    def draw(keys, n, kept):
        calls.append((list(keys), n, dict(kept)))
        return [Drawn((k, n), gen(k), problems[k][n]) for k in keys]

    return draw


def test_the_fewest_problems_win_the_earlier_on_a_tie_and_every_draw_is_paid_for():
    calls = []
    kept = best_of(["a", "b", "c"], scripted({"a": [0], "b": [2, 1, 0], "c": [1, 1, 1]}, calls), 2,
                   owner=str, spent={}, budget=99)
    assert [(keys, n) for keys, n, _ in calls] == [(["a", "b", "c"], 0), (["b", "c"], 1), (["b", "c"], 2)]
    assert kept["a"].value == ("a", 0) and kept["a"].gen.completion_tokens == 5
    assert kept["b"].value == ("b", 2) and kept["b"].problems == 0 and kept["b"].gen.completion_tokens == 15
    assert kept["c"].value == ("c", 0) and kept["c"].gen.seconds == pytest.approx(1.5)  # a tie keeps the earlier
    assert calls[1][2]["b"].value == ("b", 0)  # a later draw sees the best so far


def test_the_budget_is_per_paper_over_all_parts_and_the_first_draw_is_always_made():
    spent = {"p": 2}  # the paper's earlier rounds (another section, an earlier pass)
    calls = []
    owner = {"p1": "p", "p2": "p", "q1": "q"}.get
    kept = best_of(["p1", "p2", "q1"], scripted({"p1": [1, 1, 1], "p2": [1, 1, 1], "q1": [1, 1, 0]}, calls), 2,
                   owner=owner, spent=spent, budget=3)
    # p's two parts share one round per draw: 2 + 1 = 3, its budget, so it is drawn once; q goes on.
    assert [(keys, n) for keys, n, _ in calls] == [(["p1", "p2", "q1"], 0), (["q1"], 1), (["q1"], 2)]
    assert spent == {"p": 3, "q": 3} and kept["q1"].problems == 0
    spent = {"p": 50}
    best_of(["p1"], scripted({"p1": [1, 1, 1]}, calls := []), 2, owner=owner, spent=spent, budget=3)
    assert [(keys, n) for keys, n, _ in calls] == [(["p1"], 0)]  # out of rounds: still drawn once


def test_again_decides_who_goes_again_and_a_draw_of_rounds_charges_itself():
    calls, after = [], []
    spent = {}
    best_of(["a", "b"], scripted({"a": [0, 0], "b": [0, 0]}, calls), 1, owner=str, spent=spent, budget=9,
            again=lambda k, d: k == "a" and d.value[1] == 0, engine_round=False, after=lambda kept: after.append(
                sorted(kept)))
    assert [(keys, n) for keys, n, _ in calls] == [(["a", "b"], 0), (["a"], 1)]
    assert spent == {} and after == [["a", "b"], ["a", "b"]]
    charge(spent, ["a", "a", "b"])
    assert spent == {"a": 1, "b": 1}


def test_need_keeps_the_rounds_a_later_draw_takes_so_that_no_paper_spends_more_than_its_budget():
    """A draw of 3 rounds that charges itself (a retry written in 3 sections) goes again only while 3 rounds are
    left of the budget: from 0 spent, 0 + 3 + 3 + 3 = 9 = the budget, three draws; from 1 spent, two."""
    for before, drawn in ((0, [0, 1, 2]), (1, [0, 1])):
        calls, spent = [], {"p": before}
        inner = scripted({"p": [1, 1, 1]}, calls)

        def draw(keys, n, kept, spent=spent, inner=inner):  # this iteration's budget and script
            charge(spent, keys), charge(spent, keys), charge(spent, keys)
            return inner(keys, n, kept)

        best_of(["p"], draw, 2, owner=str, spent=spent, budget=9, engine_round=False, need=3)
        assert [n for _, n, _ in calls] == drawn and spent["p"] <= 9
