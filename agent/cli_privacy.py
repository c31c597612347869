"""CLI for the privacy of stored data: ``keys new|rotate``, ``recordings export`` and ``privacy
export|delete|correct`` (ARCO requests, each audited in ``privacy_audit``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _config(args: argparse.Namespace):
    """The settings (``--config``; none: defaults): the key file, the recordings folder."""
    from .sip.config import SipConfig

    return SipConfig.load(args.config)


def _store(args: argparse.Namespace, config, key_file=None):
    from .cli import _open_writable_store

    return _open_writable_store(args.db, False, notices=sys.stderr,
                                key_file=key_file or config.encryption_key_file)


def _fail(message: str) -> int:
    from .cli_logging import escape_controls

    print(f"error: {escape_controls(message)}", file=sys.stderr)
    return 2


def cmd_keys(args: argparse.Namespace) -> int:
    from .privacy.crypto import key_file_setting, read_key, write_new_key

    if args.keys_command == "new":
        kid = write_new_key(args.out)
        print(f"new key {kid} written to {args.out} (mode 0600); set encryption_key_file: {args.out} in the config. "
              "Keep a copy offline: without it the encrypted data cannot be read.")
        return 0
    from .privacy.rotate import rotate

    config = _config(args)
    old_file = key_file_setting(config.encryption_key_file)
    new_key = read_key(args.new_key)
    store = _store(args, config)
    keyring = store.keyring.sealing_with(new_key) if store.keyring else None
    if keyring is None:
        from .privacy.crypto import Keyring

        keyring = Keyring.of(new_key)          # no key yet: the data in the clear gets encrypted
    report = rotate(store, keyring, config.recordings_dir)
    print(f"re-encrypted under key {report.key_id}: {report.values} database value(s), {len(report.files)} file(s)")
    where = f" in {args.config}" if args.config else " (or ENCUESTADOR_KEY_FILE)"
    replaced = old_file is not None and store.keyring is not None and store.keyring.current != keyring.current
    print(f"now set encryption_key_file: {args.new_key}{where}"
          + (f"; the old key {old_file} is no longer needed once every worker uses the new one" if replaced else ""))
    return 0


def cmd_recordings(args: argparse.Namespace) -> int:
    from .privacy.crypto import SealedDataError
    from .privacy.files import read_call_file, write_private

    store = _store(args, _config(args))
    rows = store.query("SELECT recording_path FROM calls WHERE call_id = ?", (args.call_id,))
    if not rows:
        return _fail(f"no call {args.call_id!r} in {args.db}")
    path = rows[0]["recording_path"]
    if not path or not Path(path).is_file():
        return _fail(f"call {args.call_id} has no recording (not recorded, purged or deleted)")
    try:
        data = read_call_file(path, store.keyring)
    except SealedDataError as e:
        return _fail(str(e))
    write_private(args.out, data)
    print(f"{args.out}: recording of call {args.call_id} ({len(data)} bytes, decrypted)")
    return 0


def cmd_privacy(args: argparse.Namespace) -> int:
    from .privacy import arco
    from .privacy.crypto import SealedDataError

    store = _store(args, _config(args))
    actor = arco.actor_name(args.by)
    try:
        subject = arco.find_subject(store, args.customer, args.phone)
        if args.privacy_command == "export":
            result = arco.export(store, subject, args.out, actor)
            print(f"{args.out}/datos.json: {result.detail['calls']} call(s), {result.detail['answers']} answer(s), "
                  f"{result.detail['files']} file(s) for {subject.asked}")
        elif args.privacy_command == "delete":
            result = arco.delete(store, subject, actor)
            print(f"deleted the personal data of {subject.asked}: {result.detail['calls']} call(s) anonymised, "
                  f"{result.detail['files_removed']} file(s) removed; "
                  f"{'kept on the do-not-call list' if result.detail['kept_on_dnc'] else 'not on the do-not-call list'}")
        else:
            changes = {field: getattr(args, f"set_{field}") for field in arco.CORRECTABLE}
            result = arco.correct(store, subject, changes, actor)
            print(f"corrected {', '.join(result.detail['fields'])} of {subject.asked}")
    except (arco.ArcoError, SealedDataError) as e:
        return _fail(str(e))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    from .privacy.arco import CORRECTABLE

    p = sub.add_parser("keys", help="encryption keys: make one, re-encrypt everything under a new one")
    ksub = p.add_subparsers(dest="keys_command", required=True)
    k = ksub.add_parser("new", help="write a fresh random AES-256 key (mode 0600)")
    k.add_argument("--out", type=Path, required=True)
    k = ksub.add_parser("rotate", help="re-encrypt recordings, event logs and database values under --new-key "
                                       "(data in the clear is encrypted too); then point encryption_key_file at it")
    k.add_argument("--db", required=True)
    k.add_argument("--config", type=Path, help="YAML settings: encryption_key_file (the current key), recordings_dir")
    k.add_argument("--new-key", type=Path, required=True, help="key file made with `encuestador keys new`")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser("recordings", help="call recordings")
    rsub = p.add_subparsers(dest="recordings_command", required=True)
    r = rsub.add_parser("export", help="write a call's recording, decrypted, as a WAV file")
    r.add_argument("call_id")
    r.add_argument("--db", required=True)
    r.add_argument("--config", type=Path, help="YAML settings with encryption_key_file")
    r.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_recordings)

    p = sub.add_parser("privacy", help="ARCO requests: export, delete or correct a person's data (audited)")
    psub = p.add_subparsers(dest="privacy_command", required=True)
    for name, text in (("export", "everything held about the person: datos.json plus decrypted recordings"),
                       ("delete", "remove personal data, transcripts, feedback and recordings; keep anonymous counts"),
                       ("correct", "correct the customer's record")):
        c = psub.add_parser(name, help=text)
        c.add_argument("--db", required=True)
        c.add_argument("--config", type=Path, help="YAML settings with encryption_key_file")
        who = c.add_mutually_exclusive_group(required=True)
        who.add_argument("--customer", metavar="ID")
        who.add_argument("--phone", metavar="N")
        c.add_argument("--by", metavar="NAME", help="who makes the request (audited; default: the OS user)")
        if name == "export":
            c.add_argument("--out", type=Path, required=True, metavar="DIR")
        if name == "correct":
            for field in CORRECTABLE:   # --phone names the person, so the corrected number is --new-phone
                flag = "--new-phone" if field == "phone" else f"--{field.replace('_', '-')}"
                c.add_argument(flag, dest=f"set_{field}", metavar=field.upper())
    p.set_defaults(func=cmd_privacy)
