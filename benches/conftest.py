"""Benchmark session rules: refuse a debug build, and end with one atsock-vs-baseline table.

Figures from a debug build of the Rust core say nothing about the release wheel, so a
benchmarking run stops before it starts unless the extension is a release build. A run
with benchmarks disabled (``--benchmark-disable``, how ``make test`` runs) only checks
that atsock and the baselines agree, which any build may do.

Each benchmark states what it measured in ``extra_info``: ``impl`` ("atsock" or
"naive"), ``bytes`` processed per round, and optionally ``target_ratio`` (atsock must be
at least this many times the baseline's throughput) or ``target_mbps`` (an absolute
throughput floor, MB = 10**6 bytes). The table pairs the two implementations of each
``benchmark.group`` and compares their median rounds.
"""

from __future__ import annotations

from typing import Any

import pytest

import atsock


def _benchmarks_enabled(config: pytest.Config) -> bool:
    session = getattr(config, "_benchmarksession", None)
    return session is not None and not session.disabled


def pytest_sessionstart(session: pytest.Session) -> None:
    profile = atsock.build_profile()
    if _benchmarks_enabled(session.config) and profile != "release":
        pytest.exit(
            f"atsock._core is a {profile} build: benchmark figures would be meaningless. "
            "Rebuild it in release mode (`make build`) and run the benchmarks again.",
            returncode=1,
        )


def _mbps(bench: Any) -> float | None:
    size = bench.extra_info.get("bytes")
    median = bench.stats.median if bench.stats else 0.0
    if not size or median <= 0:
        return None
    return float(size) / median / 1e6


def _row(group: str, ours: Any, base: Any) -> list[str]:
    ours_mbps = _mbps(ours) if ours is not None else None
    base_mbps = _mbps(base) if base is not None else None
    ratio = ours_mbps / base_mbps if ours_mbps and base_mbps else None
    info = ours.extra_info if ours is not None else {}
    target, met = "-", "-"
    if "target_ratio" in info:
        target = f">= {info['target_ratio']}x baseline"
        met = "-" if ratio is None else ("yes" if ratio >= info["target_ratio"] else "NO")
    elif "target_mbps" in info:
        target = f">= {info['target_mbps']} MB/s"
        met = "-" if ours_mbps is None else ("yes" if ours_mbps >= info["target_mbps"] else "NO")
    return [
        group,
        "-" if ours_mbps is None else f"{ours_mbps:,.0f} MB/s",
        "-" if base_mbps is None else f"{base_mbps:,.1f} MB/s",
        "-" if ratio is None else f"{ratio:,.1f}x",
        target,
        met,
    ]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not _benchmarks_enabled(config):
        return
    groups: dict[str, dict[str, Any]] = {}
    for bench in config._benchmarksession.benchmarks:  # type: ignore[attr-defined]
        if bench.has_error or not bench.stats:
            continue
        groups.setdefault(bench.group or bench.name, {})[bench.extra_info.get("impl", "")] = bench
    if not groups:
        return
    header = ["measure", "atsock", "baseline", "ratio", "target", "met?"]
    rows = [header] + [_row(g, b.get("atsock"), b.get("naive")) for g, b in groups.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    terminalreporter.write_sep("=", "atsock vs pure-Python baseline (median round)")
    for n, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        ]
        terminalreporter.write_line(" | ".join(cells))
        if n == 0:
            terminalreporter.write_line("-+-".join("-" * w for w in widths))
