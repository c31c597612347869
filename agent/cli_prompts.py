"""``encuestador prompts render``: every fixed prompt of the survey into the prompt cache, at set-up
(``make setup`` runs it after ``models fetch``), so no call or demo waits on synthesising one."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Callable

DEMO_COMPANY = "Telecom del Norte"  # the company ``encuestador demo`` calls for


def cmd_prompts_render(args: argparse.Namespace) -> int:
    from .dialogue.script import SurveyScript
    from .runtime import RuntimeOptions, build_synthesizer, default_cache_dir, fixed_prompt_texts
    from .speak.cache import PromptCache

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    companies, callback = list(args.company or []), args.callback_number
    if args.config:
        from .sip.config import SipConfig

        try:
            config = SipConfig.load(args.config)
        except (ValueError, OSError) as e:  # a bad settings file: its one-line error
            print(f"error: {e}", file=sys.stderr)
            return 2
        companies.append(config.company)
        callback = callback or config.callback_number
    if not companies:
        companies = [RuntimeOptions().company, DEMO_COMPANY]
    synthesizer = build_synthesizer(RuntimeOptions(tts=args.tts, piper_voice=args.piper_voice))
    cache = PromptCache(synthesizer, args.cache_dir or default_cache_dir())
    script = SurveyScript.load()
    for company in dict.fromkeys(companies):
        texts = fixed_prompt_texts(script, company, callback)
        started = time.monotonic()
        rendered = cache.prerender(texts)
        print(f"prompts for {company}: {len(texts)} fixed sentences, {rendered} rendered now "
              f"({time.monotonic() - started:.1f} s), voice {synthesizer.voice_id}, cache {cache.directory}",
              flush=True)
    return 0


def add_commands(sub: argparse._SubParsersAction, add_engine_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("prompts", help="synthesised prompts")
    psub = p.add_subparsers(dest="prompts_command", required=True)
    r = psub.add_parser("render", help="render every fixed prompt into the prompt cache (done by `make setup`)")
    r.add_argument("--company", action="append",
                   help=f"company named in the prompts (repeatable; default: the default and the demo's, {DEMO_COMPANY})")
    r.add_argument("--config", type=Path, help="also the company and callback number of this SIP settings file")
    r.add_argument("--callback-number", help="the company's number, said in voicemail messages")
    r.add_argument("--cache-dir", type=Path, help="prompt cache directory (default: $ENCUESTADOR_HOME/../cache/prompts)")
    add_engine_options(r)
    r.set_defaults(func=cmd_prompts_render)
