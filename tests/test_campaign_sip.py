"""``encuestador campaign run`` over real SIP: the dialer calls the customers due, through the trunk
(a SIPp UAS playing the customers' phones), with local-presence caller IDs, and never the DNC list;
each finished call reaches a real local CRM endpoint as a signed webhook."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from sip_harness import PJSUA_TELEPHONE_EVENT_PT, bueno_greeting, free_port, key_presses, template
from test_campaign import CSV, CrmServer

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (Debian sip-tester) is not installed")


def test_campaign_run_dials_the_due_customers_and_reports_them(tmp_path, whisper_dir):
    from datetime import datetime, timedelta, timezone

    from encuestador.report.webhooks import deliver_due
    from encuestador.store import Store

    customers = tmp_path / "customers.csv"
    customers.write_text(CSV, encoding="utf-8")
    db = tmp_path / "campaign.db"
    assert subprocess.run([sys.executable, "-m", "encuestador", "campaign", "import", str(customers), "--db", str(db)],
                          capture_output=True, text=True).returncode == 0
    assert subprocess.run([sys.executable, "-m", "encuestador", "dnc", "add", "+52 664 123 4567", "--db", str(db)],
                          capture_output=True, text=True).returncode == 0
    # The customers' phones: answer, say "¿Bueno?", press 1 (yes), 5 (score), 1 (resolved), # (no comments).
    uas_port, media = free_port(), free_port()
    presses = bueno_greeting(tmp_path) + "\n" + key_presses(tmp_path, "151#", payload_type=PJSUA_TELEPHONE_EVENT_PT,
                                                            first_ms=2500)
    scenario = tmp_path / "uas.xml"
    scenario.write_text(template("uas_survey.xml", te_pt=PJSUA_TELEPHONE_EVENT_PT, presses=presses,
                                 ending=template("uas_end_bye.xml")))
    uas = subprocess.Popen(["sipp", "-sf", str(scenario), "-m", "2", "-i", "127.0.0.1", "-p", str(uas_port),
                            "-mi", "127.0.0.1", "-mp", str(media), "-nostdin", "-trace_err", "-trace_msg",
                            "-timeout", "150s", "-timeout_error"],
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    crm = CrmServer(failures=1)
    try:
        config = tmp_path / "campaign.yaml"
        config.write_text(yaml.safe_dump({
            "recordings_dir": str(tmp_path / "rec"),
            "trunk": {"proxy": f"sip:127.0.0.1:{uas_port}", "caller_id": "+525550009999"},
            "caller_id_pool": ["+525550000001", "+528180000002"],
            "webhook_url": crm.url, "webhook_secret": "s3cret"}))
        config.chmod(0o600)   # it holds the webhook secret
        # Wednesday 11:00 in Mexico City: C-1 (CDMX) and C-6 (Monterrey) are due; C-2 is on the DNC list.
        run = subprocess.run([sys.executable, "-m", "encuestador", "campaign", "run", "--db", str(db), "--config",
                              str(config), "--listen", f"127.0.0.1:{free_port()}", "--at", "2026-07-15T11:00-06:00",
                              "--concurrency", "2", "--pace", "0.5", "--whisper-model", str(whisper_dir),
                              "--tts", "espeak"], capture_output=True, text=True, timeout=240)
        uas_out, _ = uas.communicate(timeout=60)
    finally:
        crm.close()
        if uas.poll() is None:
            uas.kill()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert uas.returncode == 0, uas_out[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary == {"dialled": 2, "outcomes": {"completed": 2}}, run.stdout[-3000:]
    assert "2/2 done" in run.stderr
    store = Store(db)
    attempts = store.query("SELECT customer_id, outcome, caller_id FROM attempts ORDER BY customer_id")
    assert attempts == [{"customer_id": "C-1", "outcome": "completed", "caller_id": "+525550000001"},
                        {"customer_id": "C-6", "outcome": "completed", "caller_id": "+528180000002"}]
    calls = store.query("SELECT customer_id, score, resolved FROM calls ORDER BY customer_id")
    assert calls == [{"customer_id": "C-1", "score": 5, "resolved": 1}, {"customer_id": "C-6", "score": 5, "resolved": 1}]
    messages = "\n".join(p.read_text(errors="replace") for p in tmp_path.glob("uas_*_messages.log"))
    assert re.search(r"From: <?sip:\+525550000001@", messages) and re.search(r"From: <?sip:\+528180000002@", messages)
    # The CRM refused the first webhook: that one waits in the outbox and goes out on the next try.
    assert len(crm.received) == 1
    owed = store.query("SELECT call_id, tries, last_error FROM outbox WHERE delivered_at IS NULL")
    assert len(owed) == 1 and owed[0]["tries"] == 1 and owed[0]["last_error"] == "HTTP 503"
    crm2 = CrmServer(failures=0)
    try:
        later = datetime.now(timezone.utc) + timedelta(minutes=1)
        assert len(deliver_due(store, crm2.url, "s3cret", later).delivered) == 1
    finally:
        crm2.close()
    delivered = [json.loads(body)["customer"]["customer_id"] for _, body in crm.received + crm2.received]
    assert sorted(delivered) == ["C-1", "C-6"]
    # A second run dials nobody: both surveys are finished.
    again = subprocess.run([sys.executable, "-m", "encuestador", "campaign", "run", "--db", str(db), "--config",
                            str(config), "--listen", f"127.0.0.1:{free_port()}", "--at", "2026-07-16T11:00-06:00",
                            "--whisper-model", str(whisper_dir), "--tts", "espeak"],
                           capture_output=True, text=True, timeout=120)
    assert json.loads(again.stdout.strip().splitlines()[-1]) == {"dialled": 0, "outcomes": {}}, again.stderr[-2000:]
