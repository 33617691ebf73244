"""The table ``make bench`` ends with: one row per measure, atsock against its baseline.

Each benchmark states what it measured in ``extra_info``: ``impl`` ("atsock", or
"naive" / "baseline" for the baseline it is compared to; any other ``impl`` is a
reference run of the same group, shown as an extra row named by its ``label``), and
what its rounds mean:

- ``metric="throughput"`` (the default): ``bytes`` processed per round. The row shows
  MB/s (10**6 bytes) of the median round. The baseline is the group's other benchmark,
  or the atsock benchmark of group ``baseline_group``, or a nominal ``baseline_mbps``
  (e.g. a UART's line rate, named by ``baseline_label``). Targets: ``target_ratio``
  (atsock at least this many times the baseline) or ``target_mbps`` (a floor).
  A benchmark whose rounds alternated with as many baseline rounds says so with
  ``paired_baseline_seconds`` (those rounds' seconds, in round order) and
  ``paired_block`` (rounds in a row on each side): its baseline is their median; with
  blocks of 1 (each round beside one of its own), its ratio is the median of the
  rounds' ratios, and a reference run's share is the ratio of the two.
- ``metric="latency"``: a round is one operation. The rows show the median and the
  99th percentile; ``target_ratio_max`` caps atsock's median over the baseline's. With
  ``paired_baseline_seconds``, the baseline's rounds are those. With
  ``reference_seconds`` (a second baseline's rounds, run beside the first), a row
  "median vs ``reference_label``" shows atsock's median over that one's, with no target.

Any benchmark may add ``rows``: measures that are values rather than ratios (memory
growth, CPU share, fairness), each ``{"measure", "value", "unit", "op", "limit"}``
with ``op`` one of "<", "<=", ">=" or None (no target). The table shows them as
value against target; a row with a ``reference`` (the same measure of a reference run
in the same session, named by ``reference_label``) also shows it and the ratio.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from typing import Any

BASELINE_IMPLS = ("naive", "baseline")
HEADER = ["measure", "atsock", "baseline", "ratio", "target", "met?"]


def table(benchmarks: Iterable[Any]) -> list[list[str]]:
    """The rows (the header first) for pytest-benchmark's ``Metadata`` objects: one
    group per row or rows, in the order the groups first ran; failed ones left out."""
    groups: dict[str, dict[str, Any]] = {}
    for bench in benchmarks:
        if bench.has_error or not bench.stats:
            continue
        groups.setdefault(bench.group or bench.name, {})[bench.extra_info.get("impl", "")] = bench
    return [HEADER] + [row for g, b in groups.items() for row in _rows(g, b, groups)]


def render(rows: list[list[str]]) -> list[str]:
    """``rows`` as aligned text lines, a rule under the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        ]
        lines.append(" | ".join(cells))
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return lines


def _mbps(bench: Any) -> float | None:
    size = bench.extra_info.get("bytes")
    median = bench.stats.median if bench.stats else 0.0
    if not size or median <= 0:
        return None
    return float(size) / median / 1e6


def _paired_seconds(bench: Any) -> list[float] | None:
    """The baseline rounds that alternated with the rounds of ``bench``, if all are there."""
    if bench is None or not bench.stats:
        return None
    seconds: list[float] = bench.extra_info.get("paired_baseline_seconds") or []
    if not seconds or len(seconds) != len(bench.stats.data):
        return None
    return seconds


def _paired(bench: Any) -> tuple[float, float] | None:
    """(baseline MB/s, median of the rounds' ratios) of a benchmark whose every round ran
    beside a baseline round of its own (blocks of 1); None otherwise."""
    seconds = _paired_seconds(bench)
    size = bench.extra_info.get("bytes") if seconds else None
    if not seconds or not size or bench.extra_info.get("paired_block", 1) != 1:
        return None
    if min(seconds) <= 0 or min(bench.stats.data) <= 0:
        return None
    ratio = statistics.median(base / ours for base, ours in zip(seconds, bench.stats.data))
    return float(size) / statistics.median(seconds) / 1e6, ratio


def _fmt_mbps(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f} MB/s" if value >= 100 else f"{value:,.3g} MB/s"


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "NO")


def _throughput_row(
    group: str, ours: Any, base: Any, groups: dict[str, dict[str, Any]]
) -> list[str]:
    info = ours.extra_info if ours is not None else {}
    ours_mbps = _mbps(ours) if ours is not None else None
    base_mbps = _mbps(base) if base is not None else None
    base_text = _fmt_mbps(base_mbps)
    if base is None and info.get("baseline_group") in groups:
        ref = groups[info["baseline_group"]].get("atsock")
        base_mbps = _mbps(ref) if ref is not None else None
        base_text = _fmt_mbps(base_mbps) + (" (1 module)" if base_mbps else "")
    elif base is None and "baseline_mbps" in info:
        base_mbps = float(info["baseline_mbps"])
        base_text = f"{base_mbps:.3g} MB/s {info.get('baseline_label', '')}".rstrip()
    ratio = ours_mbps / base_mbps if ours_mbps and base_mbps else None
    paired = _paired(ours)
    if paired is not None:
        base_mbps, ratio = paired
        base_text = _fmt_mbps(base_mbps) + " (paired)"
    target, met = "-", "-"
    if "target_ratio" in info:
        target = f">= {info['target_ratio']}x baseline"
        met = _met(None if ratio is None else ratio >= info["target_ratio"])
    elif "target_mbps" in info:
        target = f">= {info['target_mbps']} MB/s"
        met = _met(None if ours_mbps is None else ours_mbps >= info["target_mbps"])
    precision = ".2f" if ratio is not None and ratio < 10 else ",.1f"
    return [
        group,
        _fmt_mbps(ours_mbps),
        base_text,
        "-" if ratio is None else f"{ratio:{precision}}x",
        target,
        met,
    ]


def _percentile(rounds: list[float], fraction: float) -> float | None:
    data = sorted(rounds)
    if not data:
        return None
    return float(data[min(len(data) - 1, math.ceil(fraction * len(data)) - 1)])


def _latency_rows(group: str, ours: Any, base: Any) -> list[list[str]]:
    info = ours.extra_info if ours is not None else {}
    ours_rounds = ours.stats.data if ours is not None and ours.stats else []
    paired = _paired_seconds(ours)
    base_rounds = paired or (base.stats.data if base is not None and base.stats else [])
    base_note = " (paired)" if paired else ""
    rows = []
    for label, fraction in (("median", 0.5), ("p99", 0.99)):
        a = _percentile(ours_rounds, fraction)
        b = _percentile(base_rounds, fraction)
        ratio = a / b if a and b else None
        target, met = "-", "-"
        if label == "median" and "target_ratio_max" in info:
            target = f"<= {info['target_ratio_max']}x baseline"
            met = _met(None if ratio is None else ratio <= info["target_ratio_max"])
        rows.append(
            [
                f"{group} {label}",
                "-" if a is None else f"{a * 1e6:,.0f} us",
                "-" if b is None else f"{b * 1e6:,.0f} us{base_note}",
                "-" if ratio is None else f"{ratio:.2f}x",
                target,
                met,
            ]
        )
    reference = _percentile(info.get("reference_seconds") or [], 0.5)
    a = _percentile(ours_rounds, 0.5)
    if reference and a:
        rows.append(
            [
                f"{group} median vs {info.get('reference_label', 'reference')}",
                f"{a * 1e6:,.0f} us",
                f"{reference * 1e6:,.0f} us (paired)",
                f"{a / reference:.2f}x",
                "-",
                "-",
            ]
        )
    return rows


def _fmt_value(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.2f} %"
    if unit in ("", "MiB"):
        return f"{value:,.2f} {unit}".rstrip()
    return f"{value:,.3g} {unit}".rstrip()


def _value_row(spec: dict[str, Any]) -> list[str]:
    value, unit, op, limit = spec["value"], spec.get("unit", ""), spec.get("op"), spec.get("limit")
    target, met = "-", "-"
    if op is not None and limit is not None:
        target = f"{op} {_fmt_value(limit, unit)}"
        ok = {"<": value < limit, "<=": value <= limit, ">=": value >= limit}[op]
        met = _met(ok)
    reference = spec.get("reference")
    if reference is None:
        return [spec["measure"], _fmt_value(value, unit), "-", "-", target, met]
    label = f"{_fmt_value(reference, unit)} {spec.get('reference_label', '')}".rstrip()
    ratio = f"{value / reference:.2f}x" if reference else "-"
    return [spec["measure"], _fmt_value(value, unit), label, ratio, target, met]


def _rows(group: str, impls: dict[str, Any], groups: dict[str, dict[str, Any]]) -> list[list[str]]:
    ours = impls.get("atsock")
    base = next((impls[i] for i in BASELINE_IMPLS if i in impls), None)
    info = ours.extra_info if ours is not None else {}
    if info.get("metric") == "latency":
        rows = _latency_rows(group, ours, base)
    else:
        rows = [_throughput_row(group, ours, base, groups)]
    for impl, bench in impls.items():
        if impl not in ("atsock", *BASELINE_IMPLS):
            rows.append(_reference_row(group, ours, bench, base))
    return rows + [_value_row(spec) for spec in info.get("rows", [])]


def _reference_row(group: str, ours: Any, reference: Any, base: Any) -> list[str]:
    """Another run of the group (informational), named by its ``label``: its rate
    against the baseline, and atsock's share of it in the target column."""
    ref_mbps, ours_mbps = _mbps(reference), _mbps(ours) if ours is not None else None
    base_mbps = _mbps(base) if base is not None else None
    ratio = ref_mbps / base_mbps if ref_mbps and base_mbps else None
    share = ours_mbps / ref_mbps if ours_mbps and ref_mbps else None
    paired, ours_paired = _paired(reference), _paired(ours)
    if paired is not None:
        base_mbps, ratio = paired
        if ours_paired is not None:  # each against its own baseline rounds
            share = ours_paired[1] / ratio
    return [
        f"{group}: {reference.extra_info.get('label', reference.extra_info.get('impl'))}",
        _fmt_mbps(ref_mbps),
        _fmt_mbps(base_mbps),
        "-" if ratio is None else f"{ratio:.2f}x",
        "-" if share is None else f"atsock = {share:.2f}x of it",
        "-",
    ]
