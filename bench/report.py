"""Turns the measured runs of bench/run.sh (JSON lines, one per tool and group) into a table
of figures and ratios, where binlake stands against its targets, results.json, results.csv
and chart.png.

A group is one piece of work done by every tool in it; each binlake tool of a group is set
against every other tool of the group: speed as the ratio of rows/s, memory as the ratio of
peak RSS.

Usage: report.py RESULTS.jsonl OUT_DIR
"""

import csv
import json
import os
import sys

FIELDS = ["group", "tool", "seconds", "rows", "rows_per_s", "peak_mb", "p50_s", "p99_s", "max_s"]


def load(path):
    runs = [json.loads(line) for line in open(path) if line.strip()]
    groups = {}
    for r in runs:
        groups.setdefault(r["group"], []).append(r)
    return runs, groups


def is_binlake(r):
    return r["tool"].startswith("binlake")


def ratios(groups):
    out = []
    for group, runs in groups.items():
        for b in filter(is_binlake, runs):
            for p in runs:
                if is_binlake(p):
                    continue
                out.append(
                    {
                        "group": group,
                        "binlake": b["tool"],
                        "peer": p["tool"],
                        "speed": round(b["rows_per_s"] / p["rows_per_s"], 2),
                        "memory": round(b["peak_mb"] / p["peak_mb"], 2),
                    }
                )
    return out


def targets(runs, groups):
    """(target, where binlake stands, met) for the targets the measured groups cover."""
    out = []

    def find(prefix, tool):
        return [r for g, rs in groups.items() if g.startswith(prefix) for r in rs if r["tool"].startswith(tool)]

    for g, rs in groups.items():
        if not g.startswith("snapshot"):
            continue
        where = g.split(", ")[-1]
        for b in filter(is_binlake, rs):
            n = b["tool"].split(", ")[1].split()[0]
            cx = next((r for r in rs if r["tool"].startswith(f"ConnectorX, {n} conn.")), None)
            if cx is None:
                continue
            speed, memory = b["rows_per_s"] / cx["rows_per_s"], b["peak_mb"] / cx["peak_mb"]
            out.append((f"snapshot rows/s >= 1.2x ConnectorX's, {n} conn., {where}", f"{speed:.2f}x", speed >= 1.2))
            out.append((f"snapshot peak RSS < half ConnectorX's, {n} conn., {where}", f"{memory:.2f}x", memory < 0.5))
    for g, rs in groups.items():
        if g.startswith("scale") and len(rs) >= 2:
            small, large = min(rs, key=lambda r: r["rows"]), max(rs, key=lambda r: r["rows"])
            out.append(
                (
                    f"full-load peak RSS of {large['rows']:,} rows <= of {small['rows']:,} rows (+5%)",
                    f"{large['peak_mb']:.0f} MB vs {small['peak_mb']:.0f} MB",
                    large["peak_mb"] <= small["peak_mb"] * 1.05,
                )
            )
    for g, rs in groups.items():
        if g.startswith("cdc: 1 transaction"):
            b = next(r for r in rs if is_binlake(r))
            v = next(r for r in rs if r["tool"].startswith("mariadb-binlog -v"))
            out.append(("CDC of one large transaction >= 500k rows/s", f"{b['rows_per_s']:,} rows/s", b["rows_per_s"] >= 500_000))
            speed = b["rows_per_s"] / v["rows_per_s"]
            out.append(("CDC of one large transaction >= 4x mariadb-binlog -v", f"{speed:.2f}x", speed >= 4))
    for r in find("latency", "binlake"):
        out.append((f"p99 latency <= 1.5 s ({r['group'].removeprefix('latency: ')})", f"{r['p99_s']:.3f} s", r["p99_s"] <= 1.5))
    worst = max((r for r in runs if is_binlake(r)), key=lambda r: r["peak_mb"], default=None)
    if worst:
        out.append(("binlake peak RSS <= 256 MB in every scenario", f"{worst['peak_mb']:.0f} MB ({worst['group']})", worst["peak_mb"] <= 256))
    return out


def print_table(groups, ratio_rows, target_rows):
    line = f"{'tool':<46} {'seconds':>8} {'rows':>10} {'rows/s':>11} {'peak MB':>8}"
    for group, runs in groups.items():
        print(f"\n{group}")
        print(line)
        for r in runs:
            print(f"{r['tool']:<46} {r['seconds']:>8.2f} {r['rows']:>10,} {r['rows_per_s']:>11,} {r['peak_mb']:>8.0f}", end="")
            if "p99_s" in r:
                print(f"   p50 {r['p50_s']:.3f} s  p99 {r['p99_s']:.3f} s  max {r['max_s']:.3f} s", end="")
            print()
    if ratio_rows:
        print("\nbinlake against each peer (speed: rows/s ratio, higher is better; memory: peak RSS ratio, lower is better)")
        for r in ratio_rows:
            print(f"  {r['group']}: {r['binlake']} vs {r['peer']}: {r['speed']:.2f}x speed, {r['memory']:.2f}x memory")
    if target_rows:
        print("\ntargets (2-core machine)")
        for name, value, met in target_rows:
            print(f"  [{'met' if met else 'NOT MET':>7}] {name}: {value}")


def chart(groups, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    names = list(groups)
    fig, axes = plt.subplots(len(names), 2, figsize=(13, 2.2 * len(names) + 0.6), squeeze=False)
    for row, group in enumerate(names):
        runs = groups[group]
        tools = [r["tool"] for r in runs]
        colors = ["tab:blue" if is_binlake(r) else "tab:gray" for r in runs]
        left, right = axes[row]
        if all("p99_s" in r for r in runs):
            labels = [f"{t}, {p}" for t in tools for p in ("p50", "p99")]
            left.barh(labels, [r[k] for r in runs for k in ("p50_s", "p99_s")], color="tab:blue")
            left.set_xlabel("latency, s (lower is better)")
        elif group.startswith("memory"):
            left.barh(tools, [r["seconds"] for r in runs], color=colors)
            left.set_xlabel("seconds")
        else:
            left.barh(tools, [r["rows_per_s"] for r in runs], color=colors)
            left.set_xlabel("rows/s (higher is better)")
            left.xaxis.set_major_formatter(EngFormatter())
        right.barh(tools, [r["peak_mb"] for r in runs], color=colors)
        right.set_xlabel("peak RSS, MB (lower is better)")
        left.set_title(group, loc="left", fontsize=10)
        for ax in (left, right):
            ax.invert_yaxis()
            ax.tick_params(axis="y", labelsize=8)
        right.set_yticks([])
    fig.suptitle("binlake (blue) and its peers (gray), measured in the same run", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(path, dpi=110)


def main():
    results, out = sys.argv[1], sys.argv[2]
    runs, groups = load(results)
    ratio_rows = ratios(groups)
    target_rows = targets(runs, groups)
    print_table(groups, ratio_rows, target_rows)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(
            {
                "runs": runs,
                "ratios": ratio_rows,
                "targets": [{"target": t, "value": v, "met": m} for t, v, m in target_rows],
            },
            f,
            indent=2,
        )
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(runs)
    chart(groups, os.path.join(out, "chart.png"))
    print(f"\nwritten: {out}/results.json, {out}/results.csv, {out}/chart.png")


if __name__ == "__main__":
    main()
