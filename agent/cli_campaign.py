"""CLI for the business side: campaign import/due/run, do-not-call list, reports, webhooks, purge."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .campaign.importer import ImportFileError
from .cli_errors import UsageError
from .cli_logging import escape_controls


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r} (e.g. 2026-07-15T10:30-06:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _readable_file(path: Path) -> None:
    """Refuse (one line, exit 2) a file to import that is missing, a directory or binary, before any
    database is made."""
    from .campaign.importer import read_text

    if path.is_dir():
        raise ImportFileError(f"{path} is a directory, not a file to import")
    if not path.exists():
        raise ImportFileError(f"{path}: no such file")
    read_text(path, [])


def _date(flag: str, text: str) -> None:
    from datetime import date

    try:
        date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r}: expected a date YYYY-MM-DD") from None


def _rules(config_path: Path | None):
    from .campaign.rules import CallingRules
    from .sip.config import SipConfig

    return CallingRules.load(SipConfig.load(config_path).calling_rules)


def _print_errors(report, what: str) -> None:
    for notice in report.notices:
        print(f"note: {escape_controls(notice)}", file=sys.stderr)
    for line, reason in report.errors:
        print(f"line {line}: {escape_controls(reason)}", file=sys.stderr)
    print(f"{what}: {report.imported} imported, {len(report.errors)} rejected", file=sys.stderr)


def _writable_store(location: str, create: bool = False):
    """The store a command writes to; only the commands that import may make a new one (``create``)."""
    from .cli import _open_writable_store

    return _open_writable_store(location, create, notices=sys.stderr)


def cmd_campaign_import(args: argparse.Namespace) -> int:
    from .campaign.importer import import_customers

    _readable_file(args.file)
    report = import_customers(args.file, _writable_store(args.db, create=True))
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    _print_errors(report, str(args.file))
    return 0


def cmd_campaign_due(args: argparse.Namespace) -> int:
    from .campaign.queue import candidates
    from .store import open_store

    rules = _rules(args.config)
    listed = candidates(open_store(args.db, create=False), rules, args.at)
    shown = listed if args.explain else [c for c in listed if c.verdict.due]
    if args.json:
        print(json.dumps([c.to_dict() for c in shown], ensure_ascii=False, indent=2))
        return 0
    for c in shown:
        mark = "DUE " if c.verdict.due else "wait"
        slot = " (preferred slot)" if c.verdict.preferred else ""
        print(f"{mark} {c.customer_id:<12} {c.phone}  local {c.verdict.local_time:%a %H:%M}  "
              f"attempts {c.attempts}  {c.verdict.reason}{slot}")
    print(f"{sum(c.verdict.due for c in listed)} of {len(listed)} due at {args.at.isoformat()}", file=sys.stderr)
    return 0


def cmd_campaign_run(args: argparse.Namespace) -> int:
    """Dial everyone due (now, or from ``--at`` onwards in rehearsal) through the SIP trunk."""
    import threading

    from .campaign.dialer import Dialer, progress_line
    from .campaign.rules import CallingRules
    from .cli import _sip_setup
    from .report.webhooks import start_sender

    agent, store, config = _sip_setup(args, 0, create_db=False)   # crash recovery done there
    rules = CallingRules.load(config.calling_rules)
    started, start_wall = time.monotonic(), args.at or datetime.now(timezone.utc)
    clock = lambda: start_wall + timedelta(seconds=time.monotonic() - started)  # noqa: E731
    dialer: Dialer

    def place(request) -> None:
        agent.place_call(request.phone, request.customer_id, request.caller_id,
                         on_finished=lambda call_id, outcome, slots: dialer.ended(request, call_id, outcome, slots))

    dialer = Dialer(store, rules, place, args.concurrency, args.pace, config.caller_id_pool, clock)
    sender = start_sender(store, config.webhook_url, config.webhook_secret)
    tty = sys.stderr.isatty()
    last_line = ""

    def tick() -> bool:
        nonlocal last_line
        dialer.tick()
        line = progress_line(dialer.stats)
        if line != last_line:
            print(("\r" if tty else "") + line, end="" if tty else "\n", file=sys.stderr, flush=True)
            last_line = line
        return not args.watch and dialer.idle()

    stop = threading.Event()
    try:
        agent.run(stop, tick=tick)
    except KeyboardInterrupt:
        print("\ninterrupted: live calls are hung up; their attempts stay counted", file=sys.stderr)
    finally:
        agent.shutdown()
        if sender is not None:
            sender.stop()
    print(json.dumps({"dialled": dialer.stats.dialled, "outcomes": dialer.stats.outcomes}), flush=True)
    return 0


def cmd_dnc(args: argparse.Namespace) -> int:
    from .campaign.importer import import_dnc
    from .campaign.phones import PhoneError, normalize_mx

    if args.dnc_command == "add":
        try:
            number = normalize_mx(args.number)
        except PhoneError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        store = _writable_store(args.db)   # a mistyped --db must not take the number elsewhere
        store.add_dnc(number, "manual", args.reason or "")
        print(f"{number} will not be called")
        return 0
    _readable_file(args.file)
    report = import_dnc(args.file, _writable_store(args.db, create=True), source=args.source)
    _print_errors(report, str(args.file))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import kpis, render
    from .store import open_store

    for flag, value in (("--since", args.since), ("--until", args.until)):
        if value is not None:
            _date(flag, value)
    report = kpis.compute(open_store(args.db, create=False), args.since, args.until)
    if args.csv:
        render.write_csv(report, args.csv)
    if args.html:
        render.write_html(report, args.html)
    if args.png:
        Path(args.png).write_bytes(render.chart_png(report))
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "calls"}, ensure_ascii=False, indent=2))
    else:
        print(render.text_table(report))
    return 0


def cmd_webhooks(args: argparse.Namespace) -> int:
    from .report.webhooks import deliver_due, webhook_secret

    secret = webhook_secret(args.secret)
    if not secret:
        print("error: give --secret or set ENCUESTADOR_WEBHOOK_SECRET", file=sys.stderr)
        return 2
    report = deliver_due(_writable_store(args.db), args.url, secret)
    for key, error in report.failed:
        print(f"{key}: {error} (will retry)", file=sys.stderr)
    print(json.dumps({"delivered": len(report.delivered), "failed": len(report.failed), "pending": report.pending}))
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from .store.retention import purge_expired

    if args.days < 1:
        print(f"error: --days {args.days}: the retention period is at least 1 day", file=sys.stderr)
        return 2
    report = purge_expired(_writable_store(args.db), args.days, recordings_dir=args.recordings)
    print(json.dumps({"recordings": len(report.recordings), "transcripts": len(report.transcripts)}))
    return 0


def add_commands(sub, add_sip_options) -> None:
    p = sub.add_parser("campaign", help="import customers, see who is due, run the dialer")
    csub = p.add_subparsers(dest="campaign_command", required=True)
    c = csub.add_parser("import", help="customers from CSV or JSON (customer_id,name,phone[,topic,last_contact,notes])",
                        description="Bad rows are reported by line and the rest imported. A file that is not "
                                    "UTF-8 is read as Windows-1252/Latin-1 (said in a note); a binary file is "
                                    "refused. A customer_id repeated in the file keeps its FIRST row. Control "
                                    "characters are removed from every field. The database is made if missing.")
    c.add_argument("file", type=Path)
    c.add_argument("--db", required=True)
    c.add_argument("--json", action="store_true", help="print the import report as JSON")
    c.set_defaults(func=cmd_campaign_import)
    c = csub.add_parser("due", help="who would be dialled at an instant, and why the others would not")
    c.add_argument("--db", required=True)
    c.add_argument("--at", type=_instant, default=datetime.now(timezone.utc), help="ISO 8601 instant (default: now)")
    c.add_argument("--config", type=Path, help="YAML settings with calling_rules overrides")
    c.add_argument("--json", action="store_true")
    c.add_argument("--explain", action="store_true", help="also list customers not due, with the reason")
    c.set_defaults(func=cmd_campaign_due)
    c = csub.add_parser("run", help="dial everyone due through the SIP trunk")
    add_sip_options(c)
    c.add_argument("--concurrency", type=int, default=2, help="calls at once (≤ 4 per pjsua2 endpoint)")
    c.add_argument("--pace", type=float, default=2.0, help="seconds between two dials")
    c.add_argument("--watch", action="store_true", help="keep running and dial customers as they become due")
    c.add_argument("--at", type=_instant, help="rehearsal: evaluate the calling rules as if the run started at "
                                               "this instant (the clock then advances in real time)")
    c.set_defaults(func=cmd_campaign_run)

    p = sub.add_parser("dnc", help="the do-not-call list")
    dsub = p.add_subparsers(dest="dnc_command", required=True)
    d = dsub.add_parser("add", help="never call this number")
    d.add_argument("number")
    d.add_argument("--reason")
    d.add_argument("--db", required=True)
    d = dsub.add_parser("import", help="numbers from a file, one per line or first CSV column (e.g. a REPEP extract)")
    d.add_argument("file", type=Path)
    d.add_argument("--source", default="import")
    d.add_argument("--db", required=True)
    p.set_defaults(func=cmd_dnc)

    p = sub.add_parser("report", help="KPIs with their definitions; CSV, PNG and HTML exports")
    p.add_argument("--db", required=True)
    p.add_argument("--since", help="first Mexico City date (YYYY-MM-DD)")
    p.add_argument("--until", help="last Mexico City date (YYYY-MM-DD)")
    p.add_argument("--csv", type=Path, help="one row per call")
    p.add_argument("--html", type=Path, help="self-contained HTML report")
    p.add_argument("--png", type=Path, help="chart by day")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("webhooks", help="deliver owed call webhooks to the CRM now")
    p.add_argument("--db", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--secret", help="HMAC key (default: $ENCUESTADOR_WEBHOOK_SECRET)")
    p.set_defaults(func=cmd_webhooks)

    p = sub.add_parser("purge", help="delete recordings and transcripts past the retention period (audited)")
    p.add_argument("--db", required=True)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--recordings", type=Path, help="also delete recording files this old in this directory")
    p.set_defaults(func=cmd_purge)
