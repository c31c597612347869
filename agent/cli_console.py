"""CLI for the web console: ``console`` (serve it), ``users add`` and ``tokens add|revoke|list``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, e.g. 127.0.0.1:8080, got {text!r}")
    return host.strip("[]"), int(port)


def _store(db: str, create: bool = True, key_file=None):
    from .console.schema import ensure_tables
    from .store import open_store

    store = open_store(db, create=create, key_file=key_file)
    ensure_tables(store)
    return store


def cmd_console(args: argparse.Namespace) -> int:
    from .campaign.rules import CallingRules
    from .console.server import serve
    from .privacy.notice import warn_if_clear
    from .sip.config import SipConfig

    try:
        config = SipConfig.load(args.config)
        rules = CallingRules.load(config.calling_rules)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    store = _store(args.db, create=False, key_file=config.encryption_key_file)  # a mistyped path: an error
    warn_if_clear(store.keyring)
    if not store.query("SELECT 1 AS hit FROM console_users WHERE active = 1 AND role = 'admin'"):
        print("note: no admin account yet; create one with "
              f"`encuestador users add NAME --role admin --password-stdin --db {args.db}`", file=sys.stderr)
    host, port = args.listen
    try:
        serve(store, host, port, rules, secure_cookies=args.secure_cookies)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    from .console import accounts

    store = _store(args.db)
    if args.users_command == "list":
        for row in accounts.users(store):
            print(f"{row['name']:<20} {row['role']:<10} {'active' if row['active'] else 'disabled'}")
        return 0
    if not args.password_stdin:
        print("error: give the password on standard input with --password-stdin", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        accounts.add_user(store, args.name, args.role, password)
    except accounts.AccountError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"user {args.name} ({args.role}) saved")
    return 0


def cmd_tokens(args: argparse.Namespace) -> int:
    from .console import accounts

    store = _store(args.db)
    if args.tokens_command == "add":
        try:
            token = accounts.add_token(store, args.name, args.role)
        except accounts.AccountError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(token)
        print(f"token {args.name} ({args.role}) created; it is shown only this once", file=sys.stderr)
        return 0
    if args.tokens_command == "revoke":
        if not accounts.revoke_token(store, args.name):
            print(f"error: no active token named {args.name!r}", file=sys.stderr)
            return 1
        print(f"token {args.name} revoked")
        return 0
    for row in accounts.tokens(store):
        print(f"{row['name']:<20} {row['role']:<10} {'revoked ' + row['revoked_at'] if row['revoked_at'] else 'active'}")
    return 0


def add_commands(sub) -> None:
    from .console.accounts import ROLES

    p = sub.add_parser("console", help="the supervisors' web console and the CRM REST API")
    p.add_argument("--listen", type=_listen, default=("127.0.0.1", 8080), help="HOST:PORT (port 0: any free one)")
    p.add_argument("--db", required=True, help="SQLite file, or a postgresql:// DSN")
    p.add_argument("--config", type=Path, help="YAML settings (calling_rules overrides)")
    p.add_argument("--secure-cookies", action="store_true", help="mark the session cookie Secure (behind HTTPS)")
    p.set_defaults(func=cmd_console)

    p = sub.add_parser("users", help="console accounts")
    usub = p.add_subparsers(dest="users_command", required=True)
    u = usub.add_parser("add", help="create an account (or set a new password and role)")
    u.add_argument("name")
    u.add_argument("--role", choices=ROLES, required=True)
    u.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    u.add_argument("--db", required=True)
    u = usub.add_parser("list")
    u.add_argument("--db", required=True)
    p.set_defaults(func=cmd_users)

    p = sub.add_parser("tokens", help="bearer tokens for the REST API")
    tsub = p.add_subparsers(dest="tokens_command", required=True)
    t = tsub.add_parser("add", help="create a token (printed once; stored hashed)")
    t.add_argument("name")
    t.add_argument("--role", choices=ROLES, required=True)
    t.add_argument("--db", required=True)
    t = tsub.add_parser("revoke")
    t.add_argument("name")
    t.add_argument("--db", required=True)
    t = tsub.add_parser("list")
    t.add_argument("--db", required=True)
    p.set_defaults(func=cmd_tokens)
