"""The report as a text table, CSV (one row per call), a PNG chart and a self-contained HTML page."""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path
from typing import Any

from .. import labels

CSV_COLUMNS = ("call_id", "day", "customer_id", "phone", "topic", "direction", "outcome", "consent", "score",
               "resolved", "opt_out", "transferred", "ticket", "duration_ms", "feedback")
PERCENT = {"contact_rate", "completion_rate", "csat_top2_share", "resolution_rate", "opt_out_rate", "voicemail_rate"}


def _fmt(name: str, value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.1%}" if name in PERCENT else str(value)


def text_table(report: dict[str, Any]) -> str:
    lines = []
    overall = report["overall"]
    width = max(len(k) for k in report["definitions"])
    lines.append(f"customers called: {overall['customers_called']}   calls: {overall['calls']}")
    for name, info in report["definitions"].items():
        target = info["target"]
        goal = "" if target is None else f"  (target ≥ {_fmt(name, target)})"
        lines.append(f"{name:<{width}}  {_fmt(name, overall[name]):>7}{goal}   — {info['definition']}")
    feedback = report.get("feedback") or {}
    if feedback.get("answers"):
        topics = ", ".join(f"{t} {n}" for t, n in feedback["topics"].items()) or "—"
        moods = ", ".join(f"{s} {n}" for s, n in feedback["sentiment"].items())
        lines.append(f"feedback: {feedback['answers']} comments — topics: {topics} — sentiment: {moods}")
    for title, key in (("by day", "by_day"), ("by topic", "by_topic")):
        lines.append(f"\n{title}:")
        for label, k in report[key].items():
            lines.append(f"  {label:<16} calls {k['calls']:>4}  contact {_fmt('contact_rate', k['contact_rate']):>6}  "
                         f"completion {_fmt('completion_rate', k['completion_rate']):>6}  CSAT {_fmt('', k['csat_average']):>4}")
    return "\n".join(lines)


def write_csv(report: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for call in report["calls"]:
            writer.writerow({k: call.get(k) for k in CSV_COLUMNS})
    return path


def chart_png(report: dict[str, Any]) -> bytes:
    """Contact and completion rate and CSAT by day, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = list(report["by_day"]) or ["—"]
    rows = [report["by_day"].get(d, {}) for d in days]
    fig, (rates, csat) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    x = range(len(days))
    for offset, key, label in ((-0.2, "contact_rate", "contacto"), (0.2, "completion_rate", "encuesta completa")):
        rates.bar([i + offset for i in x], [100 * (r.get(key) or 0) for r in rows], width=0.4, label=label)
    rates.axhline(65, color="gray", lw=0.8, ls="--")
    rates.axhline(40, color="gray", lw=0.8, ls=":")
    rates.set_ylabel("%")
    rates.set_ylim(0, 100)
    rates.legend(loc="upper left", fontsize=8)
    rates.set_title("Contacto y encuestas completas por día")
    csat.plot(list(x), [r.get("csat_average") or float("nan") for r in rows], marker="o")
    csat.axhline(4.2, color="gray", lw=0.8, ls="--")
    csat.set_ylim(1, 5)
    csat.set_ylabel("CSAT (1–5)")
    csat.set_xticks(list(x))
    csat.set_xticklabels(days, rotation=30, ha="right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _feedback_line(report: dict[str, Any]) -> str:
    feedback = report.get("feedback") or {}
    if not feedback.get("answers"):
        return "Sin comentarios."
    topics = ", ".join(f"{t}: {n}" for t, n in feedback["topics"].items()) or "—"
    moods = ", ".join(f"{s}: {n}" for s, n in feedback["sentiment"].items())
    return f"{feedback['answers']} comentarios. Temas: {topics}. Tono: {moods}."


def write_html(report: dict[str, Any], path: str | Path, title: str = "Encuesta de satisfacción") -> Path:
    """One HTML file with everything inside it (chart embedded as a data URI; no external assets)."""
    e = html.escape
    overall = report["overall"]
    names = labels.texts()["kpis"]
    kpi_rows = "".join(
        f"<tr><td>{e(labels.label('kpis', name))}</td><td class=n>{e(_fmt(name, overall[name]))}</td>"
        f"<td class=n>{'' if info['target'] is None else e(_fmt(name, info['target']))}</td>"
        f"<td>{e(names.get(name, {}).get('definicion', info['definition']))}</td></tr>"
        for name, info in report["definitions"].items())

    def breakdown(key: str) -> str:
        cols = ("calls", "contact_rate", "completion_rate", "csat_average", "resolution_rate", "opt_out_rate")
        head = "".join(f"<th>{e(labels.label('kpis', c))}</th>" for c in cols)
        body = "".join(f"<tr><td>{e(label)}</td>" + "".join(f"<td class=n>{e(_fmt(c, k[c]))}</td>" for c in cols) + "</tr>"
                       for label, k in report[key].items())
        return f"<table><tr><th></th>{head}</tr>{body}</table>"

    chart = base64.b64encode(chart_png(report)).decode("ascii")
    page = f"""<!doctype html>
<html lang="es-MX"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}td.n{{text-align:right}}</style></head>
<body><h1>{e(title)}</h1>
<p>Clientes llamados: {overall['customers_called']} · llamadas: {overall['calls']}</p>
<table><tr><th>Indicador</th><th>valor</th><th>meta</th><th>definición</th></tr>{kpi_rows}</table>
<img alt="KPIs por día" src="data:image/png;base64,{chart}">
<h2>Comentarios</h2><p>{e(_feedback_line(report))}</p>
<h2>Por día</h2>{breakdown("by_day")}
<h2>Por tema</h2>{breakdown("by_topic")}
</body></html>
"""
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
