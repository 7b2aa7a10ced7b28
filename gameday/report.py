"""Scorecard and reports of a game day: terminal text, Markdown, self-contained HTML, JSON.

The HTML report has no scripts and no external resources (inline CSS and an inline SVG
chart of time to contain), so it can be attached to a ticket or opened offline.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from gameday.runner import ScenarioResult

STATUS_MARK = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP", "error": "ERROR"}


def progress_line(index: int, total: int, result: ScenarioResult) -> str:
    met = f"{result.met}/{len(result.checks)}" if result.checks else "-"
    reason = f"  ({result.reason})" if result.reason and result.status != "passed" else ""
    return (
        f"[{index:>2}/{total}] {STATUS_MARK[result.status]:<5} {result.name:<44} expectations {met:<6} "
        f"{result.duration_s:5.1f} s{reason}"
    )


def totals(results: Sequence[ScenarioResult]) -> dict[str, int]:
    out = dict.fromkeys(STATUS_MARK, 0)
    for r in results:
        out[r.status] += 1
    return out


def failing(results: Sequence[ScenarioResult]) -> bool:
    return any(r.status in ("failed", "error") for r in results)


def scorecard(results: Sequence[ScenarioResult]) -> str:
    """Expectations met and time to contain per incident, one line per scenario."""
    lines = ["SCORECARD", f"{'scenario':<44} {'status':<6} {'met':>7}  time to contain"]
    for r in results:
        times = ", ".join(f"{ms} ms" for ms in r.contain_times.values()) or "-"
        met = f"{r.met}/{len(r.checks)}" if r.checks else "-"
        lines.append(f"{r.name:<44} {STATUS_MARK[r.status]:<6} {met:>7}  {times}")
    t = totals(results)
    met_total = sum(r.met for r in results)
    checks = sum(len(r.checks) for r in results)
    contained = [ms for r in results for ms in r.contain_times.values()]
    lines.append("")
    lines.append(
        f"{len(results)} scenario(s): {t['passed']} passed, {t['failed']} failed, {t['error']} error(s), "
        f"{t['skipped']} skipped; expectations met {met_total}/{checks}"
    )
    if contained:
        ordered = sorted(contained)
        lines.append(
            f"time to contain: {len(ordered)} incident(s), median {ordered[len(ordered) // 2]} ms, max {ordered[-1]} ms"
        )
    return "\n".join(lines)


def failures_text(result: ScenarioResult) -> str:
    lines = []
    for check in result.checks:
        if not check.ok:
            actual = check.actual if isinstance(check.actual, str) else json.dumps(check.actual, default=str)
            lines.append(f"    NOT MET {check.what}: expected {json.dumps(check.expected, default=str)}, got {actual}")
    return "\n".join(lines)


def to_json(results: Sequence[ScenarioResult]) -> str:
    return json.dumps({"totals": totals(results), "scenarios": [r.to_dict() for r in results]}, indent=2, default=str)


# ---------------------------------------------------------------------------- Markdown


def markdown(results: Sequence[ScenarioResult], *, title: str = "Game day report") -> str:
    t = totals(results)
    out = [
        f"# {title}",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC}. "
        f"{t['passed']} passed, {t['failed']} failed, {t['error']} error(s), {t['skipped']} skipped.",
        "",
        "| scenario | status | expectations met | time to contain |",
        "|---|---|---|---|",
    ]
    for r in results:
        times = ", ".join(f"{ms} ms" for ms in r.contain_times.values()) or "-"
        out.append(f"| [{r.name}](#{r.name}) | {STATUS_MARK[r.status]} | {r.met}/{len(r.checks)} | {times} |")
    for r in results:
        out += [
            "",
            f"## {r.name}",
            "",
            r.description,
            "",
            f"File `{r.label}`. Status **{r.status}**" + (f": {r.reason}" if r.reason else "") + ".",
        ]
        if r.config:
            out += ["", "Configuration: " + ", ".join(f"`{k}={json.dumps(v)}`" for k, v in r.config.items())]
        if r.steps:
            out += ["", "```", r.timeline(), "```"]
        if r.checks:
            out += ["", "| | expectation | expected | actual |", "|---|---|---|---|"]
            for c in r.checks:
                out.append(
                    f"| {'met' if c.ok else '**not met**'} | {_md(c.what)} | {_md(_short(c.expected))} | "
                    f"{_md(_short(c.actual))} |"
                )
    return "\n".join(out) + "\n"


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#0d1117;color:#fff;padding:20px 32px}header h1{margin:0 0 4px;font-size:22px}
main{padding:16px 32px;max-width:1200px}section{background:#fff;border:1px solid #d0d7de;border-radius:8px;
padding:12px 18px;margin:14px 0}h2{font-size:17px;margin:4px 0 6px}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #eaeef2;padding:4px 8px;text-align:left;vertical-align:top;font-size:13px}
th{background:#f6f8fa}.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600;
color:#fff}.passed{background:#1a7f37}.failed,.error{background:#cf222e}.skipped{background:#8c959f}
.timeline{background:#0d1117;color:#e6edf3;border-radius:6px;padding:10px 12px;overflow-x:auto;font:12px/1.4
ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre}.ok{color:#1a7f37;font-weight:600}
.bad{color:#cf222e;font-weight:600}.muted{color:#57606a}.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:22px}code{font-size:12px}
"""


def _chart(results: Sequence[ScenarioResult]) -> str:
    """Horizontal bars: time to contain of every incident, labelled by scenario."""
    bars = [(r.name, ms) for r in results for ms in r.contain_times.values()]
    if not bars:
        return '<p class="muted">No incident was contained in this run.</p>'
    width, label_w, row_h = 900, 300, 24
    top = max(ms for _, ms in bars) or 1
    scale = (width - label_w - 80) / top
    height = row_h * len(bars) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Time to contain per incident" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="system-ui,sans-serif" '
        f'font-size="12">'
    ]
    for i, (name, ms) in enumerate(bars):
        y = 10 + i * row_h
        w = max(2.0, ms * scale)
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{html.escape(name)}</text>')
        parts.append(
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" rx="3" '
            f'fill="#2f81f7"><title>{html.escape(name)}: {ms} ms</title></rect>'
        )
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 15}">{ms} ms</text>')
    axis_y = 10 + len(bars) * row_h + 4
    parts.append(f'<line x1="{label_w}" y1="{axis_y}" x2="{width - 60}" y2="{axis_y}" stroke="#8c959f"/>')
    parts.append(f'<text x="{label_w}" y="{axis_y + 16}" fill="#57606a">0 ms</text>')
    parts.append(f'<text x="{width - 60}" y="{axis_y + 16}" text-anchor="end" fill="#57606a">{top} ms</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_report(results: Sequence[ScenarioResult], *, title: str = "Game day report") -> str:
    t = totals(results)
    esc = html.escape
    met = sum(r.met for r in results)
    checks = sum(len(r.checks) for r in results)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{esc(title)}</h1><div>Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} by "
        "<code>python -m gameday run</code></div></header><main>",
        '<div class="cards">',
    ]
    for label, value in (
        ("scenarios", len(results)),
        ("passed", t["passed"]),
        ("failed", t["failed"] + t["error"]),
        ("skipped", t["skipped"]),
        ("expectations met", f"{met}/{checks}"),
    ):
        out.append(f'<div class="card"><b>{value}</b>{label}</div>')
    out.append("</div>")
    out.append('<section id="chart"><h2>Time to contain</h2>' + _chart(results) + "</section>")
    out.append(
        '<section id="scorecard"><h2>Scorecard</h2><table><tr><th>scenario</th><th>status</th>'
        "<th>expectations met</th><th>time to contain</th><th>duration</th></tr>"
    )
    for r in results:
        times = ", ".join(f"{ms} ms" for ms in r.contain_times.values()) or "-"
        out.append(
            f'<tr><td><a href="#{esc(r.name)}">{esc(r.name)}</a></td>'
            f'<td><span class="badge {r.status}">{r.status}</span></td><td>{r.met}/{len(r.checks)}</td>'
            f"<td>{times}</td><td>{r.duration_s:.1f} s</td></tr>"
        )
    out.append("</table></section>")
    for r in results:
        out.append(
            f'<section class="scenario" id="{esc(r.name)}"><h2>{esc(r.name)} '
            f'<span class="badge {r.status}">{r.status}</span></h2>'
        )
        out.append(
            f"<p>{esc(r.description)}</p><p class='muted'>File <code>{esc(r.label)}</code>"
            + (f" · {esc(r.reason)}" if r.reason else "")
            + "</p>"
        )
        if r.config:
            out.append(
                "<p>Configuration: "
                + ", ".join(f"<code>{esc(k)}={esc(json.dumps(v))}</code>" for k, v in r.config.items())
                + "</p>"
            )
        if r.steps:
            out.append(f'<div class="timeline">{esc(r.timeline())}</div>')
        if r.checks:
            out.append("<table><tr><th></th><th>expectation</th><th>expected</th><th>actual</th></tr>")
            for c in r.checks:
                mark = '<span class="ok">met</span>' if c.ok else '<span class="bad">not met</span>'
                out.append(
                    f"<tr><td>{mark}</td><td>{esc(c.what)}</td><td><code>{esc(_short(c.expected))}</code></td>"
                    f"<td><code>{esc(_short(c.actual))}</code></td></tr>"
                )
            out.append("</table>")
        out.append("</section>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"
