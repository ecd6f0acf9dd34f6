"""Semantic rules for rollout policy: NodeGroup maintenance windows (cron schedule, duration,
time zone) and EdgeDaemonSet `spec.rollout` (waves name the workload's groups, each once;
the schema checks maxFailedPods).

Pure functions from a `Document` to diagnostics; the schema reports wrong types. No side effects.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gitops_edge.model.maintenance import parse_duration, parse_window
from gitops_edge.repository.diagnostics import Diagnostic
from gitops_edge.repository.docpath import dict_at, dig, list_at
from gitops_edge.repository.yamldoc import Document


def check_node_group(doc: Document) -> list[Diagnostic]:
    window = dict_at(doc.data, "spec", "maintenanceWindow")
    base: list[str | int] = ["spec", "maintenanceWindow"]
    out: list[Diagnostic] = []
    schedule, duration, zone = (
        window.get("schedule"),
        window.get("duration"),
        window.get("timeZone", "UTC"),
    )
    if isinstance(schedule, str):
        try:
            # any valid zone stands for "timeZone is given" (a CRON_TZ= prefix then conflicts)
            parse_window(schedule, "1h", "UTC" if "timeZone" in window else None)
        except ValueError as exc:
            out.append(
                doc.diagnostic(
                    [*base, "schedule"],
                    str(exc),
                    hint="minute hour day-of-month month day-of-week as in a Kubernetes CronJob, "
                    "e.g. '0 2 * * *', '0 2 * * SAT,SUN' or '@daily'",
                    rule="window",
                )
            )
    if isinstance(duration, str):
        try:
            parse_duration(duration)
        except ValueError as exc:
            out.append(doc.diagnostic([*base, "duration"], str(exc), hint="e.g. 4h", rule="window"))
    if isinstance(zone, str):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            out.append(
                doc.diagnostic(
                    [*base, "timeZone"],
                    f"time zone {zone!r} is unknown",
                    hint="an IANA name such as Asia/Shanghai or UTC",
                    rule="window",
                )
            )
    return out


def check_rollout(doc: Document) -> list[Diagnostic]:
    rollout = dict_at(doc.data, "spec", "rollout")
    if not rollout:
        return []
    groups = {
        name for g in list_at(doc.data, "spec", "groups") if isinstance(name := dig(g, "name"), str)
    }
    out: list[Diagnostic] = []
    seen: dict[str, int] = {}
    for w, wave in enumerate(list_at(rollout, "waves")):
        for i, name in enumerate(list_at(wave, "groups")):
            if not isinstance(name, str):
                continue
            path: list[str | int] = ["spec", "rollout", "waves", w, "groups", i]
            if name not in groups:
                out.append(
                    doc.diagnostic(
                        path,
                        f"wave {w + 1} names group {name!r}, which is not in spec.groups",
                        hint=f"use one of: {', '.join(sorted(groups))}" if groups else "",
                        rule="rollout-waves",
                    )
                )
            elif name in seen:
                out.append(
                    doc.diagnostic(
                        path,
                        f"group {name!r} is in wave {seen[name] + 1} and wave {w + 1}",
                        hint="put each group in one wave",
                        rule="rollout-waves",
                    )
                )
            else:
                seen[name] = w
    return out
