"""Write the results: a Markdown table (benchmarks/RESULTS.md) and a PNG chart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def markdown(doc: dict[str, Any], command: str, descriptions: dict[str, str]) -> str:
    m = doc["machine"]
    out = [
        "# Benchmark results",
        "",
        f"Made by `{command}` on {m['date']}: Python {m['python']}, {m['cpus']} CPUs "
        f"(server on core {m['server_cpu']}, client on core {m['client_cpu']}), "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + ".",
        "",
        "Medians of the repetitions with min–max in brackets; a ✗ marks a series with a failed "
        "run (its ratios are refused). Ratios compare medians measured in this same run; the "
        "client scenarios (S1, S2) take the contenders' repetitions in turns. CPU µs is the "
        "client's CPU time per request (per message where the scenario says so); an entry of "
        "the ratios named `… CPU µs/msg` is such a cost, not a ratio.",
        "",
    ]
    series: Sequence[dict[str, Any]] = doc["series"]
    for scenario in sorted({s["scenario"] for s in series}):
        rows = [s for s in series if s["scenario"] == scenario]
        out += [f"## {scenario}: {descriptions.get(scenario, '')}", ""]
        # CPU µs per request, but per message where the scenario's description says so (S9).
        out += ["| contender | parameters | unit | median | min–max | CPU µs | runs |"]
        out += ["|---|---|---|---|---|---|---|"]
        for s in rows:
            mark = "" if s["ok"] else " ✗"
            span = f"{_fmt(s.get('min'))}–{_fmt(s.get('max'))}" if s.get("values") else "—"
            out.append(
                f"| {s['contender']}{mark} | {_params(s['params'])} | {s['unit']} | "
                f"{_fmt(s.get('median'))} | {span} | {_fmt(s.get('cpu_us_median'))} | "
                f"{s['runs']} |"
            )
            if s["failures"]:
                out.append(f"| | failed: {'; '.join(s['failures'])[:200]} | | | | | |")
        out.append("")
    if doc["ratios"]:
        out += ["## Ratios (same run)", "", "| ratio | value |", "|---|---|"]
        for name, value in doc["ratios"].items():
            shown = "refused: a run failed" if value is None else f"{value:.2f}"
            out.append(f"| {name} | {shown}{'' if 'µs' in name or value is None else '×'} |")
        out.append("")
    return "\n".join(out)


def chart(doc: dict[str, Any], path: Path) -> None:
    """S1 and S2 side by side in ``path``; S1P and S2P (the Platform wire) likewise in
    ``chart-platform.png`` beside it. A pair none of whose scenarios ran is not drawn."""
    _draw(
        doc,
        ("S1", "S2"),
        ("S1: single-recipient sendmsg", "S2: 600 recipients per request, 50 connections"),
        path,
    )
    _draw(
        doc,
        ("S1P", "S2P"),
        (
            "S1P: single-recipient POST /messages (platform)",
            "S2P: 200 recipients per request (platform), 50 conn.",
        ),
        path.with_name("chart-platform.png"),
    )


def _draw(
    doc: dict[str, Any], scenarios: tuple[str, str], titles: tuple[str, str], path: Path
) -> None:
    s1 = [s for s in doc["series"] if s["scenario"] == scenarios[0] and s.get("values")]
    s2 = [s for s in doc["series"] if s["scenario"] == scenarios[1] and s.get("values")]
    if not (s1 or s2):
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for contender in sorted({s["contender"] for s in s1}):
        rows = sorted(
            (s for s in s1 if s["contender"] == contender),
            key=lambda s: s["params"]["connections"],
        )
        xs = [s["params"]["connections"] for s in rows]
        med = [s["median"] for s in rows]
        err = [
            [m - s["min"] for m, s in zip(med, rows, strict=True)],
            [s["max"] - m for m, s in zip(med, rows, strict=True)],
        ]
        left.errorbar(xs, med, yerr=err, marker="o", capsize=3, label=contender)
    left.set_xscale("log")
    left.set_xlabel("connections")
    left.set_ylabel("requests / s")
    left.set_title(titles[0])
    if s1:
        left.legend()
    names = [s["contender"] for s in s2]
    right.bar(names, [s["median"] / 1e6 for s in s2], color="tab:blue")
    right.errorbar(
        names,
        [s["median"] / 1e6 for s in s2],
        yerr=[
            [(s["median"] - s["min"]) / 1e6 for s in s2],
            [(s["max"] - s["median"]) / 1e6 for s in s2],
        ],
        fmt="none",
        ecolor="black",
        capsize=4,
    )
    right.set_ylabel("million messages / s")
    right.set_title(titles[1])
    right.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
