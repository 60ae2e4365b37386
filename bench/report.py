"""The figures as tables on the terminal, and as bench/results/latest.json."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

# The targets of the issue that asked for this benchmark.
JOB_VS_PING_TARGET, JOB_VS_PING_AIM = 0.6, 0.8
BIG_VS_SMALL_TARGET = 0.9
RSS_GROWTH_LIMIT_MIB = 64


def _verdict(ok: bool) -> str:
    return "[green]ok[/green]" if ok else "[red]MISSED[/red]"


def _endpoint_rows(table: Table, label: str, cases: dict) -> None:
    for name, path in (("ping", "GET /node/api/ping"), ("job", "GET /node/api/jobs/:id")):
        case = cases[name]
        table.add_row(
            label,
            path,
            f"{case['rps']:,.0f}",
            f"{case['p50_ms']:.2f}",
            f"{case['p99_ms']:.2f}",
            f"{case['server_cpu_us_per_request']:.0f}",
            f"{case['distinct_ids']:,}" if name == "job" else "-",
        )


def render(results: dict, console: Console) -> None:
    settings = results["settings"]
    endpoints = Table(
        title=f"opsjobs serve ({results.get('serve_stack', '?')}), 1 worker on CPU {settings['server_cpu']}; wrk -t1 "
        f"-c{settings['connections']} on CPU {settings['load_cpu']}; median of "
        f"{settings['rounds']} rounds of {settings['seconds']} s",
        title_justify="left",
    )
    for column in (
        "database", "endpoint", "req/s", "p50 ms", "p99 ms", "server CPU µs/req", "distinct IDs"
    ):  # fmt: skip
        endpoints.add_column(
            column, justify="left" if column in ("database", "endpoint") else "right"
        )
    _endpoint_rows(endpoints, "1,000 jobs", results["endpoints"]["1k"])
    _endpoint_rows(endpoints, "1,000,000 jobs", results["endpoints"]["1M"])
    console.print(endpoints)

    ratios = results["ratios"]
    table = Table(title="Ratios (per-round ratios of req/s, median)", title_justify="left")
    for column in ("ratio", "value", "target", ""):
        table.add_column(column, justify="left" if column == "ratio" else "right")
    for key, label in (
        ("job_vs_ping_1k", "job / ping, 1k DB"),
        ("job_vs_ping_1M", "job / ping, 1M DB"),
    ):
        value = ratios[key]
        table.add_row(
            label, f"{value:.2f}", f">= {JOB_VS_PING_TARGET} (aim {JOB_VS_PING_AIM})",
            _verdict(value >= JOB_VS_PING_TARGET),
        )  # fmt: skip
    value = ratios["job_vs_ping_1M_server_cpu"]
    table.add_row(
        "job / ping, 1M DB, from server CPU per request", f"{value:.2f}", "(cross-check)", ""
    )
    value = ratios["job_1M_vs_1k"]
    table.add_row(
        "job 1M / job 1k",
        f"{value:.2f}",
        f">= {BIG_VS_SMALL_TARGET}",
        _verdict(value >= BIG_VS_SMALL_TARGET),
    )
    value = ratios["job_1M_vs_1k_normalized"]
    table.add_row(
        "(job/ping 1M) / (job/ping 1k)",
        f"{value:.2f}",
        f">= {BIG_VS_SMALL_TARGET}",
        _verdict(value >= BIG_VS_SMALL_TARGET),
    )
    console.print(table)

    history = results.get("history")
    if history:
        table = Table(
            title=f"POST /node/api/jobs, one object with {history['runs'][0]['jobs']:,} jobs "
            f"(1M DB, user {history['login']})",
            title_justify="left",
        )
        for column in (
            "run",
            "first byte ms",
            "total ms",
            "MiB sent",
            "RSS before MiB",
            "peak RSS growth MiB",
            "",
        ):
            table.add_column(column, justify="right")
        for number, run in enumerate(history["runs"], start=1):
            growth = run["peak_rss_growth_mib"]
            table.add_row(
                str(number), f"{run['first_byte_ms']:,.1f}", f"{run['total_ms']:,.1f}",
                f"{run['bytes'] / 2**20:.1f}", f"{run['rss_before_mib']:.1f}", f"{growth:.1f}",
                _verdict(growth < RSS_GROWTH_LIMIT_MIB),
            )  # fmt: skip
        console.print(table)

    stacks = results.get("stacks")
    if stacks:
        table = Table(
            title="HTTP servers, same app, 1 worker, uvloop (1M DB)", title_justify="left"
        )
        for column in (
            "server", "ping req/s", "ping p50/p99 ms", "ping CPU µs/req",
            "job req/s", "job p50/p99 ms", "job CPU µs/req", "job/ping",
        ):  # fmt: skip
            table.add_column(column, justify="left" if column == "server" else "right")
        for name, stack in stacks.items():
            ping, job = stack["ping"], stack["job"]
            table.add_row(
                name, f"{ping['rps']:,.0f}", f"{ping['p50_ms']:.2f} / {ping['p99_ms']:.2f}",
                f"{ping['server_cpu_us_per_request']:.0f}",
                f"{job['rps']:,.0f}", f"{job['p50_ms']:.2f} / {job['p99_ms']:.2f}",
                f"{job['server_cpu_us_per_request']:.0f}", f"{stack['job_vs_ping']:.2f}",
            )  # fmt: skip
        console.print(table)


def write(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
