"""The summary table's arithmetic (what a row says follows from the rounds it was given),
and the alternation of atsock's rounds with the baseline's that its ratios rely on.

The benchmarks' own runs exercise the table only under ``make bench``; these check it
in ``make test`` too, on pytest-benchmark's real ``Stats`` fed with chosen rounds.
"""

from __future__ import annotations

from types import SimpleNamespace

from pytest_benchmark.stats import Stats

from e2e_harness import PairedBaseline
from summary_table import HEADER, render, table

GROUP = "echo"
SIZE = 90_000_000


def _bench(impl: str, rounds: list[float], **extra_info: object) -> SimpleNamespace:
    stats = Stats()
    for seconds in rounds:
        stats.update(seconds)
    info = {"impl": impl, "bytes": SIZE, "target_ratio": 0.7, **extra_info}
    return SimpleNamespace(group=GROUP, name=impl, has_error=False, stats=stats, extra_info=info)


#: ratios per round 0.75, 0.5, 0.9, 0.6, 1.0 (median 0.75); the medians' ratio is 0.9
OURS = [1.0, 2.0, 1.0, 1.0, 4.0]
PAIRED = [0.75, 1.0, 0.9, 0.6, 4.0]


def test_paired_rounds_give_the_median_of_the_rounds_ratios() -> None:
    header, row = table([_bench("atsock", OURS, paired_baseline_seconds=PAIRED)])
    assert header == HEADER
    assert row == [GROUP, "90 MB/s", "100 MB/s (paired)", "0.75x", ">= 0.7x baseline", "yes"]


def test_a_paired_miss_is_a_miss_though_the_medians_would_meet_it() -> None:
    paired = [0.6, 1.0, 0.9, 0.6, 2.0]  # ratios 0.6, 0.5, 0.9, 0.6, 0.5; medians' 0.9
    row = table([_bench("atsock", OURS, paired_baseline_seconds=paired)])[1]
    assert row[3:] == ["0.60x", ">= 0.7x baseline", "NO"]


def test_a_reference_run_is_paired_with_its_own_baseline_rounds() -> None:
    ours = _bench("atsock", OURS, paired_baseline_seconds=PAIRED)
    relay = _bench(
        "relay",
        [1.0, 1.0, 1.0, 1.0, 1.0],
        paired_baseline_seconds=[0.5, 0.6, 0.7, 0.8, 0.9],
        label="bare relay",
    )
    reference = table([ours, relay])[2]
    assert reference == [
        f"{GROUP}: bare relay",
        "90 MB/s",
        "129 MB/s",
        "0.70x",
        "atsock = 1.07x of it",  # 0.75x against 0.70x, each of its own baseline
        "-",
    ]


def test_a_reference_runs_share_is_taken_pair_by_pair() -> None:
    ours = _bench("atsock", OURS, paired_baseline_seconds=PAIRED)  # 0.75x
    relay = _bench("relay", [1.0] * 5, paired_baseline_seconds=[0.5] * 5, label="relay")
    assert table([ours, relay])[2][4] == "atsock = 1.50x of it"  # 0.75 / 0.5


def test_blocks_of_rounds_are_not_paired_round_by_round() -> None:
    row = table([_bench("atsock", OURS, paired_baseline_seconds=PAIRED, paired_block=3)])[1]
    assert row[2:4] == ["-", "-"]


def test_paired_latency_rows_compare_percentiles_of_the_baseline_rounds() -> None:
    ours = _bench(
        "atsock",
        [100e-6] * 98 + [300e-6, 400e-6],
        metric="latency",
        target_ratio_max=2.0,
        paired_baseline_seconds=[50e-6] * 99 + [900e-6],
        paired_block=10,
    )
    median, p99 = table([ours])[1:]
    assert median == [
        f"{GROUP} median",
        "100 us",
        "50 us (paired)",
        "2.00x",
        "<= 2.0x baseline",
        "yes",
    ]
    assert p99[1:4] == ["300 us", "50 us (paired)", "6.00x"]


def test_a_reference_baseline_gets_a_median_row_without_a_target() -> None:
    ours = _bench(
        "atsock",
        [120e-6] * 5,
        metric="latency",
        target_ratio_max=1.5,
        paired_baseline_seconds=[100e-6] * 5,
        paired_block=5,
        reference_seconds=[80e-6] * 4 + [900e-6],
        reference_label="minimal responder",
    )
    rows = table([ours])[1:]
    assert [row[0] for row in rows] == [
        f"{GROUP} median",
        f"{GROUP} p99",
        f"{GROUP} median vs minimal responder",
    ]
    assert rows[0][3:] == ["1.20x", "<= 1.5x baseline", "yes"]
    assert rows[2][1:] == ["120 us", "80 us (paired)", "1.50x", "-", "-"]


def test_degenerate_paired_rounds_give_no_ratio_and_no_crash() -> None:
    zero = _bench("atsock", OURS, paired_baseline_seconds=[0.0] * 5)
    assert table([zero])[1][2:4] == ["-", "-"]
    sizeless = _bench("atsock", OURS, paired_baseline_seconds=PAIRED)
    del sizeless.extra_info["bytes"]
    assert table([sizeless])[1][1:4] == ["-", "-", "-"]


def test_without_pairing_the_group_baseline_and_medians_are_compared() -> None:
    baseline = _bench("baseline", [0.9, 0.8, 1.0])
    row = table([_bench("atsock", OURS), baseline])[1]
    assert row[1:4] == ["90 MB/s", "100 MB/s", "0.90x"]


def test_pairing_that_lost_rounds_is_not_trusted() -> None:
    # fewer baseline rounds than timed rounds: which pairs with which is unknown
    row = table([_bench("atsock", OURS, paired_baseline_seconds=PAIRED[:3])])[1]
    assert row[2:] == ["-", "-", ">= 0.7x baseline", "-"]


def test_failed_benchmarks_are_left_out_and_columns_line_up() -> None:
    failed = _bench("atsock", OURS)
    failed.has_error = True
    assert table([failed]) == [HEADER]
    lines = render(table([_bench("atsock", OURS, paired_baseline_seconds=PAIRED)]))
    assert len(lines) == 3
    assert len({line.index("|") for line in (lines[0], lines[2])}) == 1
    assert set(lines[1]) <= {"-", "+"}


def _run_rounds(paired: PairedBaseline, rounds: int, log: list[str]) -> str:
    """What pytest-benchmark's pedantic does: setup, the timed call, teardown."""
    for _ in range(rounds):
        paired.before()
        log.append("a")
        paired.after()
    return "".join(log)


def test_paired_baseline_alternates_in_blocks_abba() -> None:
    log: list[str] = []
    paired = PairedBaseline(lambda: log.append("b"), rounds=7, block=3)
    assert _run_rounds(paired, 7, log) == "bbbaaa" + "aaabbb" + "ba"
    assert len(paired.seconds) == 7 and all(s >= 0 for s in paired.seconds)


def test_a_reference_runs_after_each_block_of_the_baseline() -> None:
    log: list[str] = []
    paired = PairedBaseline(
        lambda: log.append("b"), rounds=5, block=2, reference=lambda: log.append("r")
    )
    assert _run_rounds(paired, 5, log) == "bbrraaaabbrrbra"
    assert len(paired.seconds) == len(paired.reference_seconds) == 5


def test_paired_baseline_of_one_pairs_every_round_either_side() -> None:
    log: list[str] = []
    paired = PairedBaseline(lambda: log.append("b"), rounds=5)
    assert _run_rounds(paired, 5, log) == "baabbaabba"
    assert len(paired.seconds) == 5


def test_an_odd_last_block_gets_its_baseline_after_it() -> None:
    log: list[str] = []
    paired = PairedBaseline(lambda: log.append("b"), rounds=5, block=2)
    assert _run_rounds(paired, 5, log) == "bbaaaabbba"
    log.clear()
    paired = PairedBaseline(lambda: log.append("b"), rounds=4, block=3)
    assert _run_rounds(paired, 4, log) == "bbbaaaab"


def test_a_setup_call_past_the_rounds_runs_no_baseline() -> None:
    # (pytest-benchmark's --benchmark-cprofile calls the setup once more, untimed)
    log: list[str] = []
    paired = PairedBaseline(lambda: log.append("b"), rounds=2)
    _run_rounds(paired, 2, log)
    paired.before()
    assert "".join(log) == "baab"
