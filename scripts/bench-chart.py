#!/usr/bin/env python3
"""Turns criterion's results for benches/breakers.rs into the tables of BENCHMARKS.md and
the chart docs/benchmarks.svg.

    cargo bench --bench breakers
    python3 scripts/bench-chart.py            # rewrites BENCHMARKS.md's tables and the SVG
    python3 scripts/bench-chart.py --print    # prints the tables only

It reads every target/criterion/**/new/estimates.json (with the benchmark.json beside it),
takes the median of each benchmark, and computes the ratios of the speed targets from those
medians, so every number in the report comes from one run. Plain python3, no packages: the
SVG is written by hand.
"""

import argparse
import json
import math
import os
import sys
from html import escape

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# (group, parameter) -> (title in the table and chart)
SCENARIOS = [
    (("closed_success", None), "Closed, success"),
    (("closed_success_deadline", None), "Closed, success, 2 s deadline"),
    (("open_rejected", None), "Open, rejected"),
    (("half_open_rejected", None), "Half-open, rejected (probe slot taken)"),
    (("threads_success", "1"), "Closed, success: 1 task (multi-thread rt)"),
    (("threads_success", "2"), "Closed, success: 2 tasks, 2 threads"),
    (("threads_rejected", "1"), "Open, rejected: 1 task (multi-thread rt)"),
    (("threads_rejected", "2"), "Open, rejected: 2 tasks, 2 threads"),
]

# function id -> (column title, chart colour)
SUBJECTS = [
    ("bare", "baseline", "#9e9e9e"),
    ("clock", "one clock read (control)", "#bdbdbd"),
    ("breaker_macro", "`#[circuit_breaker]`", "#1565c0"),
    ("breaker_macro_fallback", "`#[circuit_breaker]` to fallback", "#5e35b1"),
    ("breaker_call", "`CircuitBreaker::call`", "#42a5f5"),
    ("breaker_call_fallback", "`call` + fallback by hand", "#9575cd"),
    ("breaker_permit", "`try_acquire` + `Permit`", "#26a69a"),
    ("breaker_call_count_window", "`call`, count window of 100", "#64b5f6"),
    ("breaker_call_rolling_window", "`call`, rolling window 60 s / 10", "#90caf9"),
    ("failsafe", "failsafe 1.3", "#ef6c00"),
    ("recloser", "recloser 1.4", "#c62828"),
    ("peer_breaker", "breaker 2.0.2", "#6d4c41"),
]
PEERS = ("failsafe", "recloser", "peer_breaker")
SUBJECT_TITLE = {s: t for s, t, _ in SUBJECTS}
SUBJECT_COLOUR = {s: c for s, _, c in SUBJECTS}

TABLE_START = "<!-- bench-chart:tables:start -->"
TABLE_END = "<!-- bench-chart:tables:end -->"


def load(criterion_dir):
    """{(group, function, parameter): (median, lower, upper)} in nanoseconds."""
    results = {}
    for dirpath, _dirs, files in os.walk(criterion_dir):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            median = json.load(f)["median"]
        key = (bench["group_id"], bench["function_id"], bench.get("value_str"))
        ci = median["confidence_interval"]
        results[key] = (median["point_estimate"], ci["lower_bound"], ci["upper_bound"])
    return results


def ns(value):
    if value >= 100:
        return f"{value:.0f} ns"
    if value >= 10:
        return f"{value:.1f} ns"
    return f"{value:.2f} ns"


def get(results, group, function, param=None):
    hit = results.get((group, function, param))
    return hit[0] if hit else None


def interval(results, group, function, param=None):
    hit = results.get((group, function, param))
    return (hit[1], hit[2]) if hit else None


def medians_table(results):
    present = [
        s for s, _, _ in SUBJECTS
        if any((g, s, p) in results for (g, p), _ in SCENARIOS)
    ]
    lines = [
        "| scenario | " + " | ".join(SUBJECT_TITLE[s] for s in present) + " |",
        "|---|" + "---:|" * len(present),
    ]
    for (group, param), title in SCENARIOS:
        if not any((group, s, param) in results for s in present):
            continue
        cells = []
        for s in present:
            v = get(results, group, s, param)
            cells.append(ns(v) if v is not None else "")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Baseline: the bare `async fn`; in the deadline row, `tokio::time::timeout` around it "
        "alone. Rows with tasks run on a 2-worker multi-thread runtime and give wall time per "
        "call per task."
    )
    return "\n".join(lines)


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}×"


def mark(ok):
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def targets_table(results):
    """The speed floor and goals (BENCHMARKS.md, "Targets"), each computed from the medians
    of this run."""
    rows = []

    def fastest_peer(group, param=None):
        found = [(get(results, group, p, param), p) for p in PEERS]
        found = [(v, p) for v, p in found if v is not None]
        return min(found) if found else (None, None)

    # Floor: every single-thread row faster than every peer.
    for group, title in (
        ("closed_success", "Closed success"),
        ("closed_success_deadline", "Closed success, 2 s deadline"),
        ("open_rejected", "Open rejection"),
        ("half_open_rejected", "Half-open rejection"),
    ):
        best, peer = fastest_peer(group)
        for subject in ("breaker_macro", "breaker_call"):
            v = get(results, group, subject)
            r = ratio(best, v)
            rows.append((
                f"Floor: {title}, {SUBJECT_TITLE[subject]} faster than every peer",
                "n/a" if r is None else f"{fmt_ratio(r)} of {SUBJECT_TITLE[peer]} ({ns(v)} vs {ns(best)})",
                mark(None if r is None else r > 1.0),
            ))
    # Floor: a deadline never reached costs at most 3 ns.
    for subject in ("breaker_macro", "breaker_call"):
        with_d = get(results, "closed_success_deadline", subject)
        without = get(results, "closed_success", subject)
        over = None if with_d is None or without is None else with_d - without
        rows.append((
            f"Floor: a deadline never reached, {SUBJECT_TITLE[subject]}: at most 3 ns",
            "n/a" if over is None else f"{over:+.1f} ns ({ns(with_d)} vs {ns(without)})",
            mark(None if over is None else over <= 3.0),
        ))
    # Floor: windows.
    fixed = get(results, "closed_success", "breaker_call")
    count = get(results, "closed_success", "breaker_call_count_window")
    rolling = get(results, "closed_success", "breaker_call_rolling_window")
    clock = get(results, "closed_success", "clock")
    bare = get(results, "closed_success", "bare")
    over = None if count is None or fixed is None else count - fixed
    rows.append((
        "Floor: a count window costs at most 8 ns more than the fixed window",
        "n/a" if over is None else f"{over:+.1f} ns ({ns(count)} vs {ns(fixed)})",
        mark(None if over is None else over <= 8.0),
    ))
    read = None if clock is None or bare is None else clock - bare
    over = None if rolling is None or fixed is None else rolling - fixed
    rows.append((
        "Floor: a rolling window costs at most one clock read more than the fixed window",
        "n/a" if over is None or read is None
        else f"{over:+.1f} ns; one clock read {read:+.1f} ns over the bare loop",
        mark(None if over is None or read is None else over <= read),
    ))
    # Goals.
    for group, need, title in (
        ("closed_success", 1.5, "Closed success"),
        ("open_rejected", 2.0, "Open rejection"),
    ):
        best, peer = fastest_peer(group)
        for subject in ("breaker_macro", "breaker_call"):
            r = ratio(best, get(results, group, subject))
            rows.append((
                f"Goal: {title}, {SUBJECT_TITLE[subject]}: {need:g}× faster than the fastest peer",
                "n/a" if r is None else f"{fmt_ratio(r)} of {SUBJECT_TITLE[peer]}",
                mark(None if r is None else r >= need),
            ))
    for subject in ("breaker_macro", "breaker_call"):
        one = get(results, "threads_success", subject, "1")
        two = get(results, "threads_success", subject, "2")
        r = ratio(two, one)
        rows.append((
            f"Goal: two threads, success, {SUBJECT_TITLE[subject]}: within 1.5× of one thread per call",
            "n/a" if r is None else f"{fmt_ratio(r)} ({ns(two)} vs {ns(one)})",
            mark(None if r is None else r <= 1.5),
        ))
    lines = ["| target | this run | |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines.append("")
    lines.append(
        "Ratios against peers are peer median ÷ ours (above 1 means we are faster); the "
        "threads rows are two tasks ÷ one task per call."
    )
    return "\n".join(lines)


def clock_table(results):
    std = get(results, "clock", "std_instant_now")
    tokio = get(results, "clock", "tokio_instant_now")
    if std is None or tokio is None:
        return ""
    return "\n".join([
        "| clock read | median |",
        "|---|---:|",
        f"| `std::time::Instant::now()` | {ns(std)} |",
        f"| `tokio::time::Instant::now()` (with `test-util`) | {ns(tokio)} |",
        f"| difference | {tokio - std:+.2f} ns |",
    ])


def disturbance(results):
    """The clock control: one clock read touches nothing shared, so 2 tasks should take
    as long per call as 1. If they take much longer, something else (another process)
    had a core during the 2-task rows, and the contention rows of this run mean little."""
    one = get(results, "threads_rejected", "clock", "1")
    two = get(results, "threads_rejected", "clock", "2")
    if one is None or two is None:
        return None
    return two / one


def tables(results):
    ratio2 = disturbance(results)
    note = []
    if ratio2 is not None:
        verdict = (
            "undisturbed" if ratio2 <= 1.10
            else "**disturbed: another process had a core; rerun on an idle machine**"
        )
        note = [
            "",
            f"Check of the run: one clock read per call took {ratio2:.2f}× as long on 2 tasks "
            f"as on 1 (it shares nothing, so about 1.00× means the two threads ran "
            f"undisturbed): {verdict}.",
        ]
    parts = [
        "### Medians",
        "",
        medians_table(results),
    ] + note + [
        "",
        "### Targets",
        "",
        targets_table(results),
    ]
    clock = clock_table(results)
    if clock:
        parts += ["", "### The clock", "", clock]
    return "\n".join(parts)


def svg(results):
    """A horizontal bar chart, one panel per scenario, one shared linear scale."""
    panels = []
    for (group, param), title in SCENARIOS:
        bars = [
            (s, get(results, group, s, param))
            for s, _, _ in SUBJECTS
            if get(results, group, s, param) is not None
        ]
        if bars:
            panels.append((title, bars))
    if not panels:
        raise SystemExit("no criterion results for benches/breakers.rs found")
    vmax = max(v for _, bars in panels for _, v in bars)
    step = 10 ** math.floor(math.log10(vmax))
    for mult in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10):
        if vmax / (step * mult) <= 8:
            step *= mult
            break
    axis_max = math.ceil(vmax / step) * step

    width, left, right = 960, 300, 70
    plot_w = width - left - right
    bar_h, gap, panel_gap, title_h = 15, 3, 14, 20
    top = 76
    out = []
    y = top
    for title, bars in panels:
        out.append(
            f'<text x="12" y="{y + 14}" class="panel">{escape(title)}</text>'
        )
        y += title_h
        for subject, value in bars:
            w = max(1.0, plot_w * value / axis_max)
            label = SUBJECT_TITLE[subject].replace("`", "")
            out.append(
                f'<text x="{left - 8}" y="{y + bar_h - 3}" class="label" '
                f'text-anchor="end">{escape(label)}</text>'
            )
            out.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                f'fill="{SUBJECT_COLOUR[subject]}"><title>{escape(label)}: '
                f"{value:.2f} ns</title></rect>"
            )
            out.append(
                f'<text x="{left + w + 5:.1f}" y="{y + bar_h - 3}" class="value">'
                f"{escape(ns(value))}</text>"
            )
            y += bar_h + gap
        y += panel_gap
    bottom = y
    grid = []
    ticks = int(round(axis_max / step))
    for i in range(ticks + 1):
        v = i * step
        x = left + plot_w * v / axis_max
        grid.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{bottom - panel_gap}" '
            f'class="grid"/>'
        )
        tick = f"{v:g} ns"
        grid.append(f'<text x="{x:.1f}" y="{top - 10}" class="tick" text-anchor="middle">{tick}</text>')
    height = bottom + 28
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        "<style>",
        ".title{font-size:16px;font-weight:bold;fill:#212121}",
        ".sub{font-size:11px;fill:#616161}",
        ".panel{font-size:13px;font-weight:bold;fill:#212121}",
        ".label{font-size:11px;fill:#424242}",
        ".value{font-size:11px;fill:#212121}",
        ".tick{font-size:10px;fill:#757575}",
        ".grid{stroke:#e0e0e0;stroke-width:1}",
        "</style>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        '<text x="12" y="24" class="title">async-breaker vs failsafe, recloser and breaker 2.0.2: '
        "time per call, median (shorter is faster)</text>",
        '<text x="12" y="42" class="sub">criterion, one run, same process; '
        "generated by scripts/bench-chart.py from target/criterion. See BENCHMARKS.md "
        "for the machine and the exact command.</text>",
    ]
    foot = [
        f'<text x="12" y="{height - 10}" class="sub">Baseline: the bare async fn '
        "(with a deadline: tokio::time::timeout alone). Task rows: wall time per call "
        "per task on a 2-worker runtime.</text>",
        "</svg>",
    ]
    return "\n".join(head + grid + out + foot) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--criterion", default=os.path.join(ROOT, "target", "criterion"))
    parser.add_argument("--markdown", default=os.path.join(ROOT, "BENCHMARKS.md"))
    parser.add_argument("--svg", default=os.path.join(ROOT, "docs", "benchmarks.svg"))
    parser.add_argument("--print", action="store_true", help="print the tables, write nothing")
    args = parser.parse_args()

    results = load(args.criterion)
    if not results:
        sys.exit(f"no criterion results under {args.criterion}: run `cargo bench --bench breakers`")
    text = tables(results)
    if args.print:
        print(text)
        return
    with open(args.markdown) as f:
        doc = f.read()
    start, end = doc.find(TABLE_START), doc.find(TABLE_END)
    if start < 0 or end < start:
        sys.exit(f"{args.markdown} lacks the {TABLE_START} ... {TABLE_END} markers")
    doc = doc[: start + len(TABLE_START)] + "\n" + text + "\n" + doc[end:]
    with open(args.markdown, "w") as f:
        f.write(doc)
    os.makedirs(os.path.dirname(args.svg), exist_ok=True)
    with open(args.svg, "w") as f:
        f.write(svg(results))
    print(f"wrote the tables into {args.markdown} and the chart to {args.svg}")


if __name__ == "__main__":
    main()
