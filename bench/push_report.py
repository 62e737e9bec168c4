"""The printed report of ``push_bench.py``: machine, a table with targets and PASS/MISS,
then the CPU per delivery of each process group and the million-device checks."""

from __future__ import annotations

TARGET_ACCEPTED_PER_SECOND = 800.0  # POST /api/push/to-user on a 2-core machine (issue 2)
TARGET_CEILING_RATIO = 0.60  # broadcast deliveries/s as a share of the lean client's alone (issue 11)
TARGET_NEW_OVER_OLD = 5.0  # aiohttp transport over firebase-admin's, same run (issue 11)
TARGET_IOS_NEW_OVER_OLD = 3.0  # iOS broadcast over the transport before (issue 11)
TARGET_INBOX_P99_MS = 10.0
TARGET_INBOX_GROWTH = 1.20  # p99 at the largest inbox over the smallest (issue 11: flat within 20%)
CONTENDED_CORES = 0.25  # other work above this while measuring is called out under the table
# Process groups shown per delivery, in this order (others are summed as "other").
GROUPS = ("celery worker", "ceiling", "load generator", "postgresql", "fake", "gunicorn", "redis", "bench driver")


def verdict(value: float | None, target: float, *, higher: bool) -> str:
    """PASS when ``value`` is at least (``higher``) or at most ``target``; a missing value misses."""
    if value is None:
        return "MISS"
    return "PASS" if (value >= target if higher else value <= target) else "MISS"


def _background(part: dict, key: str = "cpu") -> str:
    cpu = part.get(key) or {}
    if "background_cores" not in cpu:
        return ""
    steal = cpu.get("steal_percent")
    return f"{cpu['background_cores']:.2f}" + ("" if steal is None else f", steal {steal:.0f}%")


def _ms(latency: dict) -> str:
    p50, p99 = latency.get("p50_ms"), latency.get("p99_ms")
    return "n/a" if p50 is None else f"{p50:.1f} / {p99:.1f} ms"


def _probe(part: dict) -> str:
    probe = (part.get("quiet_wait") or {}).get("cpu_probe_ms")
    return "" if probe is None else f"{probe:.0f} ms"


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _grouped(per_item: dict[str, float]) -> dict[str, float]:
    """CPU ms per item by GROUPS (a group's labels summed; the fake's own counter preferred)."""
    grouped: dict[str, float] = {}
    own = {label: value for label, value in per_item.items() if "(its own" in label}
    for label, value in per_item.items():
        if "(its own" in label or label.startswith("not the bench"):
            continue
        group = next((g for g in GROUPS if label.startswith(g)), "other")
        if group == "fake" and own:
            continue
        grouped[group] = grouped.get(group, 0.0) + value
    for label, value in own.items():
        if label.startswith("fake"):
            grouped["fake"] = value
    return grouped


def cpu_line(per_item: dict[str, float], unit: str = "delivery") -> str:
    grouped = _grouped(per_item)
    shown = [f"{g} {grouped[g]:.3f}" for g in (*GROUPS, "other") if grouped.get(g)]
    return f"CPU ms per {unit}: " + ", ".join(shown)


def _broadcast_rows(add, run: dict, title: str) -> None:
    done = "" if run["complete"] else f", INCOMPLETE: {run['sent']:,} sent"
    fake = run["fake"]
    if fake.get("accepted") not in (None, run["devices"]):
        done += f", fake got {fake['accepted']:,}"
    add(title, f"{run['deliveries_per_second']:,.0f}/s ({run['seconds']} s{done})", part=run)


def _table(results: dict) -> list[tuple]:
    rows = [("measurement", "result", "target", "", "other load*", "CPU probe**")]

    def add(name: str, result: str, target: str = "", verdict_: str = "", part: dict | None = None, key: str = "cpu"):
        rows.append(
            (name, result, target, verdict_, _background(part, key) if part else "", _probe(part) if part else "")
        )

    accept = results.get("accept")
    if accept:
        rate = accept.get("ok_per_second")
        add(
            "to-user accepted",
            "n/a" if rate is None else f"{rate:,.0f}/s",
            f">= {TARGET_ACCEPTED_PER_SECOND:,.0f}/s",
            verdict(rate, TARGET_ACCEPTED_PER_SECOND, higher=True),
            accept,
            "cpu_during_window",
        )
        add("to-user latency p50 / p99", _ms(accept["latency"]), "(none)")
        floor = accept["floor"]
        floor_rate = floor.get("ok_per_second")
        add(
            "  floor view (auth + validation, no DB)",
            "n/a" if floor_rate is None else f"{floor_rate:,.0f}/s",
            part=floor,
            key="cpu_during_window",
        )
        add("  to-user / floor", _percent(accept.get("over_floor")), "(none)")
    drain = results.get("drain")
    if drain:
        done = "" if drain["complete"] else f", INCOMPLETE: {drain['dispatched']:,} dispatched"
        rate = f"{drain['messages_per_second']:,.0f}/s ({drain['seconds']} s{done})"
        add(
            f"to-user delivered, {drain['messages']:,} queued, -P {drain['pool']} -c {drain['concurrency']}",
            rate,
            part=drain,
        )
    broadcast = results.get("broadcast")
    if broadcast:
        new, lean, old, old_ceiling = (broadcast[k] for k in ("new", "lean_ceiling", "old", "old_ceiling"))
        shape = f"-P {new['pool']} -c {new['concurrency']}"
        _broadcast_rows(add, new, f"broadcast {new['devices']:,} Android, aiohttp, {shape}")
        lanes = f"{lean['processes']} proc x {lean['threads']} lane"
        add(
            f"  lean ceiling: aiohttp alone, {lanes}",
            f"{lean['messages_per_second']:,.0f}/s ({lean['seconds']} s)",
            part=lean,
        )
        ratio = broadcast["new_over_lean_ceiling"]
        add(
            "  platform / lean ceiling",
            _percent(ratio),
            f">= {100 * TARGET_CEILING_RATIO:.0f}%",
            verdict(ratio, TARGET_CEILING_RATIO, higher=True),
        )
        if old:
            _broadcast_rows(add, old, f"broadcast {old['devices']:,} Android, firebase-admin, {shape}")
            rate = f"{old_ceiling['messages_per_second']:,.0f}/s ({old_ceiling['seconds']} s)"
            add(
                f"  ceiling: send_each alone, {old_ceiling['processes']} proc x {old_ceiling['threads']} thread",
                rate,
                part=old_ceiling,
            )
            add("  firebase-admin platform / send_each", _percent(broadcast["old_over_send_each"]), "(before)")
            ratio = broadcast["new_over_old"]
            add(
                "  aiohttp / firebase-admin broadcast",
                _times(ratio),
                f">= {TARGET_NEW_OVER_OLD:g}x",
                verdict(ratio, TARGET_NEW_OVER_OLD, higher=True),
            )
            add("  lean ceiling / send_each ceiling", _times(broadcast["lean_over_send_each"]), "(none)")
        for other in broadcast["other_pools"]:
            platform, ceiling = other["platform"], other["ceiling"]
            _broadcast_rows(
                add,
                platform,
                f"broadcast {platform['devices']:,}, aiohttp, -P {platform['pool']} -c {platform['concurrency']}",
            )
            add(
                f"  lean ceiling, {ceiling['processes']} proc x {ceiling['threads']} lane",
                f"{ceiling['messages_per_second']:,.0f}/s",
                part=ceiling,
            )
            add(
                "  platform / lean ceiling",
                _percent(other["ratio"]),
                f">= {100 * TARGET_CEILING_RATIO:.0f}%",
                verdict(other["ratio"], TARGET_CEILING_RATIO, higher=True),
            )
    ios = results.get("ios")
    if ios:
        new, old = ios["new"], ios["old"]
        _broadcast_rows(
            add, new, f"broadcast {new['devices']:,} iOS, APNs default, -P {new['pool']} -c {new['concurrency']}"
        )
        if old:
            _broadcast_rows(add, old, f"broadcast {old['devices']:,} iOS, APNS_TRANSPORT={ios['compare_transport']}")
            ratio = ios["new_over_old"]
            add(
                "  iOS default / before",
                _times(ratio),
                f">= {TARGET_IOS_NEW_OVER_OLD:g}x",
                verdict(ratio, TARGET_IOS_NEW_OVER_OLD, higher=True),
            )
        else:
            add("  iOS before", "not measured", f">= {TARGET_IOS_NEW_OVER_OLD:g}x", "n/a")
    inbox = results.get("inbox")
    if inbox:
        target = f"p99 <= {TARGET_INBOX_P99_MS:g} ms"
        for run in inbox["runs"]:
            first, pages = run["first_page"], run["cursor_pages"]
            name = f"inbox, {run['table_rows']:,} rows, user with {run['target_user_entries']}"
            add(
                f"{name}: {run['requests']} GETs p50 / p99",
                _ms(first),
                target,
                verdict(first["p99_ms"], TARGET_INBOX_P99_MS, higher=False),
                run,
            )
            add(
                f"  its cursor pages: {pages['requests']} GETs p50 / p99",
                _ms(pages),
                target,
                verdict(pages["p99_ms"], TARGET_INBOX_P99_MS, higher=False),
            )
        if len(inbox["runs"]) > 1:
            growth = inbox["p99_growth"]
            add(
                "  p99 largest / smallest inbox",
                _times(growth),
                f"<= {TARGET_INBOX_GROWTH:.2f}x",
                verdict(growth, TARGET_INBOX_GROWTH, higher=False),
            )
    return rows


def _checks(run: dict) -> list[str]:
    """Tasks, statements, memory and exactly-once of one broadcast run, as report lines."""
    integrity, fake, database = run["integrity"], run["fake"], run["database"]
    tasks = ", ".join(f"{name.rsplit('.', 1)[-1]} {count}" for name, count in sorted(run["celery_tasks"].items()))
    # A threads pool has no children: its one process is the one that sends.
    children = [row for row in run["worker_memory"] if row["role"] == "child"] or run["worker_memory"]
    peaks = ", ".join(f"{row['peak_rss_mib']:.0f}" for row in children)
    rss = [sample[3] for sample in run["timeline"] if sample[3]]
    flat = f"; child RSS sampled {min(rss):.0f}-{max(rss):.0f} MiB over the run" if rss else ""
    return [
        f"  {run['name']}: {run['sent']:,} sent in {run['seconds']} s; {cpu_line(run['cpu_ms_per_delivery'])}",
        f"    Celery tasks {run['celery_tasks_total']} ({tasks}); {run['chunks']} chunks of 500",
        f"    SQL statements from the workers {run['sql_statements_workers']:,} ({run['sql_statements_per_chunk']} per chunk);"
        f" database transactions, all clients {database['transactions']:,}; rows inserted {database['rows_inserted']:,},"
        f" updated {database['rows_updated']:,}",
        f"    peak RSS (VmHWM) of each pool child {peaks} MiB{flat}",
        f"    deliveries {integrity['delivery_rows']:,} for {integrity['distinct_devices']:,} devices, {integrity['sent']:,} sent,"
        f" {integrity['devices_without_a_sent_delivery']} devices without one, attempts max {integrity['max_attempts']};"
        f" fake accepted {fake['accepted']:,}, distinct tokens {fake['distinct_tokens']:,}, repeated {fake['repeated_tokens']}"
        f" -> exactly once: {'yes' if integrity['exactly_once'] and integrity['fake_saw_each_token_once'] else 'NO'}",
    ]


def report(results: dict) -> str:
    machine, setup = results["machine"], results["setup"]
    pg = machine["postgresql_settings"]
    lines = [
        "",
        "Machine: {cores} cores, {cpu_model}, {ram_gib} GiB RAM, Linux {kernel}".format(**machine),
        f"Software: Python {machine['python']}, Django {machine['django']}, PostgreSQL {machine['postgresql']}"
        f" (shared_buffers {pg['shared_buffers']}, synchronous_commit {pg['synchronous_commit']}), Redis {machine['redis']},"
        f" gunicorn {machine['gunicorn']}, Celery {machine['celery']}, firebase-admin {machine['firebase_admin']}",
        f"Web: {setup['gunicorn']}; to-user client: {setup['client']}, {setup['concurrency']} connections;"
        f" fake FCM {'lean' if setup['fake_lean'] else 'full checks'}",
        f"Command: {setup['command']}",
        "",
    ]
    rows = _table(results)
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        lines.append("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    lines.append("*  cores used by processes outside the bench while measuring (0.00: nothing else ran),")
    lines.append("   and the share of CPU time the hypervisor gave to other VMs meanwhile (steal)")
    lines.append("** sum(range(10**7)) in the driver just before measuring: the vCPU's speed then (lower is faster)")
    busy = [row[0].strip() for row in rows[1:] if row[4] and float(row[4].split(",")[0]) > CONTENDED_CORES]
    if busy:
        lines.append(
            f"!  measured while other work used over {CONTENDED_CORES} cores, so not reliable: {'; '.join(busy)}."
            " Re-run on a quiet machine."
        )
    accept = results.get("accept")
    if accept:
        lines += ["", "To-user accept:"]
        lines.append(f"  real view: {cpu_line(accept['cpu_ms_per_request'], 'request')}")
        lines.append(f"  floor view: {cpu_line(accept['floor']['cpu_ms_per_request'], 'request')}")
    runs = []
    if results.get("broadcast"):
        broadcast = results["broadcast"]
        runs += [run for run in (broadcast["new"], broadcast["old"]) if run]
        runs += [other["platform"] for other in broadcast["other_pools"]]
    if results.get("ios"):
        runs += [run for run in (results["ios"]["new"], results["ios"]["old"]) if run]
    if runs:
        lines += ["", "Broadcasts (CPU per delivery by process group; tasks, statements, memory, exactly once):"]
        for run in runs:
            lines += _checks(run)
    if results.get("broadcast"):
        broadcast = results["broadcast"]
        lines.append("  ceilings:")
        for ceiling in (broadcast["lean_ceiling"], broadcast["old_ceiling"]):
            if ceiling:
                lines.append(f"    {ceiling['client']}: {cpu_line(ceiling['cpu_ms_per_message'], 'message')}")
    return "\n".join(lines)
