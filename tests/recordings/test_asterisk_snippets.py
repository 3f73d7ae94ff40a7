"""config/asterisk: the snippets parse, name what the dialer reads and passes, and the manager user's
classes are enough for a whole campaign against the simulator (which enforces them like manager.c)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from dialer.daemon import run_until_settled
from dialer.recordings import integration
from dialer.sim import SimConfig, SimServer, SimUser
from dialer.tracker import CallTracker
from tests.e2e.conftest import ANSWERED, BUSY, MACHINE, OPTOUT, SECRET, TIME_SCALE, import_numbers, number, rows
from tests.recordings.conftest import recording_config

ASTERISK = Path(__file__).resolve().parents[2] / "config" / "asterisk"


def sections(path: Path) -> dict[str, list[tuple[str, str]]]:
    """An Asterisk .conf file as {section: [(key, value)]}; `=>` and `=` both separate."""
    result: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.split(";", 1)[0].strip() if not raw.lstrip().startswith("same") else raw.strip()
        if line.startswith("same"):
            line = re.sub(r"\s;.*$", "", line)  # a comment after the application
        if not line:
            continue
        header = re.fullmatch(r"\[([^\]]+)\]", line)
        if header:
            current = header.group(1)
            result[current] = []
            continue
        assert current is not None, f"{path.name}: {line!r} outside a section"
        key, sep, value = line.partition("=>") if "=>" in line else line.partition("=")
        assert sep, f"{path.name}: cannot read {line!r}"
        result[current].append((key.strip(), value.strip()))
    return result


def dialplan() -> list[str]:
    """The [dialer-outbound] priorities as `App(args)` strings, labels stripped."""
    steps = []
    for key, value in sections(ASTERISK / "extensions_dialer.conf")["dialer-outbound"]:
        assert key in ("exten", "same")
        app = value.split(",", 2)[2] if key == "exten" else value.split(",", 1)[1]
        steps.append(re.sub(r"^\(\w+\)", "", app))
    return steps


def user_events() -> dict[str, list[str]]:
    """UserEvent name -> its header names, in the dialplan."""
    found = {}
    for step in dialplan():
        match = re.fullmatch(r"UserEvent\((\w+)((?:,[A-Za-z]+: [^,]+)*)\)", step)
        if match:
            found[match.group(1)] = re.findall(r",([A-Za-z]+): ", match.group(2))
    return found


def test_the_dialplan_parses_into_one_extension_whose_labels_all_exist():
    steps = dialplan()
    labels = set(re.findall(r"same => n\((\w+)\)", (ASTERISK / "extensions_dialer.conf").read_text()))
    targets = {t for step in steps for t in re.findall(r"\?(\w+)(?::(\w+))?\)", step) for t in t if t}
    assert targets <= labels
    assert steps[0].startswith("NoOp(")
    assert steps[-1] == "Hangup(16)"
    balanced = all(step.count("(") == step.count(")") and step.count("${") <= step.count("}") for step in steps)
    assert balanced


def test_user_events_carry_the_names_and_headers_the_tracker_reads():
    events = user_events()
    tracker = inspect.getsource(CallTracker._on_userevent)
    read = set(re.findall(r'kind == "(\w+)"', tracker))
    assert set(events) == read == {"DialerAnswered", "DialerAMD", "DialerOptOut", "DialerAbandoned",
                                   "DialerQueueResult", "DialerCallback"}
    assert all(headers[0] == "CallID" for headers in events.values())  # the tracker's fallback correlation
    for header in set(re.findall(r'message\.get\("(\w+)"', tracker)) - {"UserEvent"}:
        assert any(header in headers for headers in events.values()), header
    assert events["DialerAnswered"] == ["CallID", "Recording"]
    assert events["DialerAMD"][:2] == ["CallID", "Status"]
    assert events["DialerQueueResult"] == ["CallID", "QueueStatus"]
    assert events["DialerCallback"] == ["CallID", "Digit"]


def test_the_dialplan_uses_the_variables_the_dialer_passes():
    text = (ASTERISK / "extensions_dialer.conf").read_text()
    used = set(re.findall(r"\$\{(DIALER_[A-Z_]+)\}", text))
    passed = {integration.REC_FILE_VAR, integration.RECORD_VAR, integration.ANNOUNCE_VAR,
              "DIALER_CALL_ID", "DIALER_CAMPAIGN", "DIALER_AMD", "DIALER_MODE", "DIALER_CALLBACK_KEY",
              # a survey campaign's (dialer.surveys.channel_vars; per-question ones: tests/surveys)
              "DIALER_SQ_COUNT", "DIALER_SURVEY_INTRO", "DIALER_SURVEY_CLOSING"}
    assert passed <= used
    optional = used - passed  # set per campaign through `variables`: each documented in the header
    assert optional == {"DIALER_MESSAGE", "DIALER_OPTOUT_KEY", "DIALER_QUEUE", "DIALER_QUEUE_TIMEOUT",
                        "DIALER_ABANDON_MESSAGE", "DIALER_CALLBACK_MESSAGE"}
    header = text.split("[dialer-outbound]")[0]
    assert all(f";   {name}" in header for name in used)
    steps = dialplan()
    record = next(i for i, s in enumerate(steps) if s.startswith("MixMonitor("))
    answered = next(i for i, s in enumerate(steps) if s.startswith("UserEvent(DialerAnswered"))
    amd = next(i for i, s in enumerate(steps) if s == "AMD()")
    notice = next(i for i, s in enumerate(steps) if s == "Playback(${DIALER_REC_ANNOUNCE})")
    message = next(i for i, s in enumerate(steps) if s.startswith("Read(OPTOUT,"))
    assert steps[record] == "MixMonitor(${REC})"
    assert record < answered < amd < notice < message
    assert "/var/spool/asterisk/monitor/dialer/${UNIQUEID}.wav" in steps[record - 1]


def manager_user() -> dict[str, str]:
    conf = sections(ASTERISK / "manager.conf")
    general = dict(conf["general"])
    assert general["bindaddr"] == "127.0.0.1"
    assert general["channelvars"] == "DIALER_CALL_ID,DIALER_CAMPAIGN"
    return dict(conf["dialer"])


def test_the_manager_user_is_loopback_only_and_least_privileged():
    user = manager_user()
    assert (user["deny"], user["permit"]) == ("0.0.0.0/0.0.0.0", "127.0.0.1/255.255.255.255")
    assert set(user["read"].split(",")) == {"call", "user", "system"}
    assert set(user["write"].split(",")) == {"originate", "call", "reporting"}


async def test_a_campaign_runs_end_to_end_with_exactly_those_privileges(tmp_path):
    user = manager_user()
    least = SimUser(secret=SECRET, read=user["read"], write=user["write"])
    sim_config = SimConfig(users={"dialer": least}, spool_dir=tmp_path / "spool", time_scale=TIME_SCALE, seed=3,
                           log_path=tmp_path / "sim.jsonl")
    async with SimServer(sim_config) as sim:
        config = recording_config(tmp_path, sim)
        calls = [number(ANSWERED, 1), number(BUSY), number(MACHINE), number(OPTOUT)]
        config = config.model_copy(update={"campaigns": {
            "c1": config.campaigns["c1"].model_copy(update={"amd": True})}})
        await import_numbers(tmp_path, config, calls)
        await run_until_settled(config, ["c1"])
    outcome = {r["number"]: (r["disposition"], r["recording_status"]) for r in await rows(
        config, "SELECT number, disposition, recording_status FROM attempts")}
    assert outcome == {
        number(ANSWERED, 1): ("answered", "archived"), number(BUSY): ("busy", None),
        number(MACHINE): ("machine", "archived"), number(OPTOUT): ("opted_out", "archived"),
    }
