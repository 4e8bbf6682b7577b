"""The results document as text tables (stdout)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["render"]


def _f(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _pair(summary: dict[str, float], digits: int = 1) -> str:
    return f"{_f(summary.get('p50'), digits)} / {_f(summary.get('p99'), digits)}"


def _added(relay: dict[str, float], direct: dict[str, float]) -> str:
    return f"{relay['p50'] - direct['p50']:+.1f} / {relay['p99'] - direct['p99']:+.1f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return out


def _cells(results: dict[str, Any]) -> dict[tuple[str, str, int], dict[str, Any]]:
    return {(c["target"], c["mode"], c["concurrency"]): c for c in results.get("cells", [])}


def _capacity_line(cells: dict[tuple[str, str, int], dict[str, Any]], mode: str) -> list[str]:
    """C=64 against C=16 through the relay ("no collapse"), and what capped the throughput."""
    low, high = cells.get(("relay", mode, 16)), cells.get(("relay", mode, 64))
    if not low or not high:
        return []
    tput = high["throughput_per_s"] / low["throughput_per_s"]
    cpu_low = low["costs"].get("relay_cpu_ms_per_request") or math.nan
    cpu_high = high["costs"].get("relay_cpu_ms_per_request") or math.nan
    emulator = high["costs"].get("emulator_cpu_ms_per_request") or math.nan
    # Both cells are capped by the emulator, so ±10–15% between them is noise, not the relay.
    verdict = "no collapse" if tput >= 0.85 and cpu_high <= 1.5 * cpu_low else "CHECK: possible collapse"
    return [
        f"  C=64 vs C=16: {high['throughput_per_s']:.1f} vs {low['throughput_per_s']:.1f}/s ({tput:.2f}×), "
        f"relay CPU {cpu_high:.2f} vs {cpu_low:.2f} ms/request → {verdict}. The emulator spends "
        f"{emulator:.1f} ms of CPU 0 per request (≤ {1000 / emulator:.0f}/s on a whole core, shared with the mock "
        f"and the load generator); the relay core is {high['costs'].get('relay_core_util', 0):.0%} busy."
    ]


def _latency_section(results: dict[str, Any]) -> list[str]:
    cells = _cells(results)
    out: list[str] = []
    levels = sorted({c for _, _, c in cells})
    if any(m == "ns" for _, m, _ in cells):
        rows = []
        for c in levels:
            d, r = cells.get(("direct", "ns", c)), cells.get(("relay", "ns", c))
            if not d or not r:
                continue
            costs = r["costs"]
            rows.append(
                [
                    str(c),
                    str(r["requests"]),
                    _pair(d["latency"]["total_ms"]),
                    _pair(r["latency"]["total_ms"]),
                    _added(r["latency"]["total_ms"], d["latency"]["total_ms"]),
                    _f(d["throughput_per_s"]),
                    _f(r["throughput_per_s"]),
                    _f(costs.get("relay_cpu_ms_per_request"), 2),
                    _f(costs.get("relay_core_util"), 2),
                    _f(costs.get("store_calls_per_request"), 2),
                    _f(costs.get("emulator_cpu_ms_per_request"), 1),
                    _f(costs.get("core0_util"), 2),
                    _f(costs.get("core1_foreign_util"), 3),
                    str(r["errors"] + d["errors"]),
                ]
            )
        out += ["", "Non-streaming (ms; added = relay − direct, separate runs)"]
        out += _table(
            [
                "C",
                "N",
                "direct p50/p99",
                "relay p50/p99",
                "added p50/p99",
                "direct/s",
                "relay/s",
                "relay CPU ms",
                "relay core",
                "store calls",
                "emul CPU ms",
                "CPU0 busy",
                "CPU1 other",
                "errors",
            ],
            rows,
        )
        out += _capacity_line(cells, "ns")
    if any(m == "stream" for _, m, _ in cells):
        rows = []
        for c in levels:
            d, r = cells.get(("direct", "stream", c)), cells.get(("relay", "stream", c))
            if not d or not r:
                continue
            costs = r["costs"]
            cpu = costs.get("relay_cpu_ms_per_request")
            events = r["latency"].get("events_per_stream", 0.0)
            rows.append(
                [
                    str(c),
                    str(r["requests"]),
                    _pair(d["latency"]["ttft_ms"]),
                    _pair(r["latency"]["ttft_ms"]),
                    _added(r["latency"]["ttft_ms"], d["latency"]["ttft_ms"]),
                    _added(r["latency"]["done_ms"], d["latency"]["done_ms"]),
                    _added(r["latency"]["total_ms"], d["latency"]["total_ms"]),
                    _f(d["throughput_per_s"]),
                    _f(r["throughput_per_s"]),
                    _f(cpu, 2),
                    _f(events * 1000 / cpu if cpu else None, 0),
                    _f(costs.get("relay_core_util"), 2),
                    _f(costs.get("store_calls_per_request"), 2),
                    _f(costs.get("core1_foreign_util"), 3),
                    str(r["errors"] + d["errors"]),
                ]
            )
        out += ["", "Streaming (ms; TTFT = first content token; [DONE] = last event; end = stream closed)"]
        out += _table(
            [
                "C",
                "N",
                "TTFT direct",
                "TTFT relay",
                "added TTFT",
                "added [DONE]",
                "added end",
                "direct/s",
                "relay/s",
                "relay CPU ms",
                "events/CPU-s",
                "relay core",
                "store calls",
                "CPU1 other",
                "errors",
            ],
            rows,
        )
        out += _capacity_line(cells, "stream")
    return out


def _ratio_text(ratio: float | None, span: list[float | None] | None) -> str:
    if ratio is None:
        return "–"
    text = f"{ratio:.2f}×"
    if span:
        low, high = span
        # an upper bound past 100× says only that the floor's CPU could be ~0 in a cell this small
        text += f" ({_f(low, 1)}–{_f(high, 1) if high is not None and high < 100 else '∞'})"
    return text


def _floor_section(results: dict[str, Any]) -> list[str]:
    comparison = results.get("floor_comparison")
    if not comparison or not comparison.get("cpu"):
        return []
    out = [
        "",
        "Relay against the passthrough floor (bench/floor_app.py: bearer check + forward, no billing), same run: "
        "CPU ms per request of each process on CPU 1; (range) = the ratio if each process's CPU over the window "
        f"were off by the 2 clock ticks of /proc's resolution ({2 * comparison.get('cpu_tick_ms', 10.0):g} ms)",
    ]
    rows = []
    for row in comparison["cpu"]:
        target = row.get("target")
        met = row.get("target_met")
        rows.append(
            [
                "non-stream" if row["mode"] == "ns" else "stream",
                str(row["concurrency"]),
                str(row["requests"]),
                _f(row["floor_cpu_ms_per_request"], 2),
                _f(row["relay_cpu_ms_per_request"], 2),
                _ratio_text(row["relay_over_floor"], row.get("relay_over_floor_range")),
                (f"≤ {target:g}× " + ("met" if met else "NOT met" if met is not None else "–")) if target else "",
                _f(row["floor_throughput_per_s"]),
                _f(row["relay_throughput_per_s"]),
                f"{_f(row['floor_core1_other'], 3)} / {_f(row['relay_core1_other'], 3)}",
            ]
        )
    out += _table(
        [
            "mode",
            "C",
            "N",
            "floor CPU ms",
            "relay CPU ms",
            "relay/floor (range)",
            "target",
            "floor/s",
            "relay/s",
            "CPU1 other floor/relay",
        ],
        rows,
    )
    labels = {
        ("ns", "total_ms"): "non-stream answer",
        ("stream", "ttft_ms"): "stream TTFT",
        ("stream", "total_ms"): "stream end",
    }
    for row in comparison.get("added_latency", []):
        out.append(
            f"  added p50 at C={row['concurrency']}, {labels.get((row['mode'], row['metric']), row['metric'])}: "
            f"floor {row['floor_added_p50_ms']:+.1f} ms, relay {row['relay_added_p50_ms']:+.1f} ms "
            f"(direct {row['direct_p50_ms']:.1f}, floor {row['floor_p50_ms']:.1f}, relay {row['relay_p50_ms']:.1f} ms)"
        )
    return out


def _store_section(results: dict[str, Any]) -> list[str]:
    store = results.get("store")
    if not store:
        return []
    out = ["", "DynamoDB per chat request, warm (recording proxy; requests one at a time)"]
    rows = []
    for name, v in store.get("variants", {}).items():
        phases = v.get("phases", {})
        before = sum(phases.get("before_upstream", {}).values())
        rows.append(
            [
                name,
                _f(v["dynamodb_calls_per_request"], 2),
                _f(v["writes_per_request"], 2),
                _f(v["reads_per_request"], 2),
                _f(v["other_calls_per_request"], 2),
                _f(before, 2),
                _f(v["write_units_per_request"], 2),
                _f(v["read_units_per_request"], 2),
                str(v["errors"]),
            ]
        )
    out += _table(["variant", "calls", "writes", "reads", "non-DDB", "before upstream", "WCU", "RCU", "errors"], rows)
    for name, v in store.get("variants", {}).items():
        out.append(f"  {name}:")
        for sig, shape in v["shapes"].items():
            sizes = ", ".join(f"{k} {b} B" for k, b in shape["item_bytes"].items())
            out.append(
                f"    {shape['calls_per_request']:.2f}× {sig}: {shape['write_units_per_call']:.0f} WCU/call"
                + (f" (indexes {shape['index_units_per_call']:.0f})" if shape["index_units_per_call"] else "")
                + (f"  [{sizes}]" if sizes else "")
            )
        for phase in ("before_upstream", "before_response_end", "after_response"):
            calls = v.get("phases", {}).get(phase, {})
            text = ", ".join(f"{c:.2f}× {s}" for s, c in calls.items()) or "none"
            out.append(f"    {phase.replace('_', ' ')}: {text}")
    cold = store.get("cold_first_request")
    if cold:
        ops = ", ".join(f"{v:.0f}× {k}" for k, v in cold["operations_per_request"].items())
        out.append(
            f"  cold first request of a new relay process: {_f(cold['latency_ms'])} ms, "
            f"{cold['calls_per_request']:.0f} store calls ({ops}); "
            f"process start to ready {_f(store.get('relay_start_to_ready_s', 0) * 1000, 0)} ms"
        )
    return out


def _chunk_section(results: dict[str, Any]) -> list[str]:
    chunks = results.get("chunk_forwarding")
    if not chunks:
        return []
    out = [
        "",
        "Per-chunk forwarding delay (ms): token written to the relay by the upstream tap → the relay sent it "
        "(kernel receive time at the client tap)",
    ]
    rows = [
        [
            str(c["concurrency"]),
            str(c["requests"]),
            _pair(c["later_tokens_ms"], 3),
            _f(c["later_tokens_ms"]["max"], 3),
            _pair(c["first_token_ms"], 3),
            str(c["matched"]),
            str(c["unmatched"]),
            str(c["errors"]),
        ]
        for c in chunks
    ]
    out += _table(
        ["C", "streams", "later tokens p50/p99", "max", "first token p50/p99", "matched", "unmatched", "errors"], rows
    )
    return out


def _cold_section(results: dict[str, Any]) -> list[str]:
    out = ["", "Cold start"]
    imports = results.get("import_times", {})
    for module, figures in imports.get("modules", {}).items():
        slow = ", ".join(f"{k} {v:.0f}" for k, v in list(figures.get("slowest_direct_imports_ms", {}).items())[:4])
        repeats = results.get("options", {}).get("import_repeats", 5)
        out.append(
            f"  import {module}: {_f(figures['importtime_ms'])} ms (-X importtime, best of {repeats}), "
            f"{_f(figures['wall_minus_start_ms'])} ms wall; slowest: {slow}"
        )
    sizes = results.get("package_sizes", {})
    if not sizes.get("available"):
        out.append(f"  package sizes: {sizes.get('note', 'run sam build first')}")
    else:
        for name, a in sizes.get("artifacts", {}).items():
            largest = ", ".join(f"{k} {v / 1e6:.1f}" for k, v in list(a["largest"].items())[:4])
            out.append(
                f"  {name}: {a['bytes'] / 1e6:.1f} MB unzipped, {a['zip_bytes'] / 1e6:.1f} MB zipped, "
                f"{a['files']} files" + (f" (largest MB: {largest})" if a["bytes"] > 1e6 else "")
            )
    memory = results.get("relay_memory")
    if memory:
        steady = ", ".join(
            f"{c['mode']} C={c['concurrency']} {c['relay_rss_bytes'] / 1e6:.0f}"
            for c in results.get("cells", [])
            if c["target"] == "relay" and c.get("relay_rss_bytes")
        )
        out.append(
            f"  relay memory: peak VmHWM {memory['peak_vmhwm_bytes'] / 1e6:.1f} MB; "
            f"VmRSS after each cell (MB): {steady}"
        )
    return out


def _cost_section(results: dict[str, Any]) -> list[str]:
    model = results.get("cost_model", {})
    if not model.get("scenarios"):
        return []
    prices = model["prices"]
    out = [
        "",
        f"Estimated AWS cost per 1,000 requests (USD, list prices {prices['region']} as of {prices['as_of']}; "
        f"Lambda arm64 {model['memory_mb']} MB; an estimate, see docs/benchmark.md)",
    ]
    names = [
        "lambda_duration",
        "lambda_requests",
        "api_gateway",
        "dynamodb_writes",
        "dynamodb_reads",
        "data_transfer_out",
        "cloudwatch_logs",
    ]
    rows = []
    for label, s in model["scenarios"].items():
        rows.append(
            [label, _f(s["inputs"]["duration_ms"], 0)]
            + [f"{s['usd'][n]:.5f}" for n in names]
            + [f"{s['total_usd']:.4f}"]
        )
    out += _table(["scenario", "ms", "λ time", "λ req", "API GW", "DDB W", "DDB R", "egress", "logs", "total"], rows)
    return out


def render(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    o = results.get("options", {})
    lines = [
        f"tollway benchmark  {m.get('date_utc')}  {m.get('cpu_model')} ×{m.get('cpus')}  Linux {m.get('kernel')}  "
        f"Python {m.get('python')}  commit {m.get('git_commit')}{' (dirty)' if m.get('git_dirty') else ''}",
        f"relay alone on CPU 1; emulator, mock and load generator on CPU 0. mock: {o.get('mock_latency_ms')} ms to the "
        f"answer, streams {o.get('tokens')} tokens at {o.get('stream_tokens_per_s')}/s; model {o.get('model')}; "
        f"{o.get('preloaded_items')} items preloaded",
    ]
    pre = m.get("preflight") or {}
    others = [
        c["costs"].get("core1_foreign_util", 0.0) for c in results.get("cells", []) if c["target"] in ("relay", "floor")
    ]
    lines.append(
        f"noise: before the run CPU0 {pre.get('core0_busy_before', 0):.0%} / "
        f"CPU1 {pre.get('core1_busy_before', 0):.0%} busy with other work; during relay and floor cells other work "
        f"took up to {max(others, default=0):.0%} of CPU 1"
        + (f"; benchmark niceness {o['nice']}" if o.get("nice") is not None else "")
        + (f"; relay SCHED_FIFO priority {o['relay_rt']}" if o.get("relay_rt") is not None else "")
    )
    lines += _latency_section(results)
    lines += _floor_section(results)
    lines += _chunk_section(results)
    lines += _store_section(results)
    lines += _cold_section(results)
    lines += _cost_section(results)
    validation = results.get("validation")
    if validation:
        lines += [
            "",
            f"Validation: {validation['sampled_records']} sampled usage records checked; records per account "
            + ", ".join(f"{k} {v['records']}/{v['sent']}" for k, v in validation["records_by_account"].items())
            + f"; open holds {validation['open_holds']}",
        ]
        lines += [f"  PROBLEM: {p}" for p in validation["problems"]]
    gc_figures = results.get("relay_gc")
    if gc_figures and gc_figures.get("available"):
        gens = gc_figures["generations"]
        lines.append(
            "Relay GC pauses over the cells: "
            + "; ".join(
                f"gen{g}: {v['collections']} collections, max {v['max_ms']:.1f} ms, {v['over_10ms']} over 10 ms"
                for g, v in gens.items()
            )
        )
    profile = results.get("profile")
    if profile:
        for mode, p in profile.items():
            share = ", ".join(f"{k} {v:.0%}" for k, v in list(p["by_package_share"].items())[:10])
            lines.append(f"Profile ({mode}, cProfile CPU time by package): {share}")
    if results.get("errors_total"):
        lines += [
            "",
            "!" * 78,
            f"!!  {results['errors_total']} ERRORS: some responses or records were wrong; the figures are suspect",
            "!" * 78,
        ]
    return "\n".join(lines)
