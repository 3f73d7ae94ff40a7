"""The [dialer-survey] context as the simulator runs it, and how simulated callees answer surveys.

The script follows config/asterisk/extensions_dialer.conf [dialer-survey]: it reads the questions
from the channel variables the dialer passed (DIALER_SQ<i>_*), plays each prompt (Read), takes the
callee's keys, reports each answer with UserEvent DialerSurveyAnswer, opts out on the opt-out key
(UserEvent DialerOptOut) and follows the routes (a question number, E or Q).

The callee is a seeded SurveyProfile: per question a key distribution, and at each question a chance
to hang up, to stay silent (a timeout) or to press the opt-out key. What a callee does at a question
is drawn from Random(f"{seed}|{number}|{question}|{try}"): the same profile and number answer the
same way every run, so a test knows what the dialer must have stored.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dialer.sim import events as ev
from dialer.sim.survey_profile import SurveyProfile

if TYPE_CHECKING:
    from asyncio import TimerHandle

    from dialer.sim.callflow import Call
    from dialer.sim.channels import Channel

INTRO_S = 1.0  # Playback of the intro / closing sound
KEY_GAP_S = 0.1  # between the digits of a number


@dataclass(frozen=True)
class _Question:
    name: str
    prompt: str
    digits: int
    tries: int
    timeout_s: float
    keys: dict[str, str]  # key -> destination (key questions)
    low: int | None  # range questions
    high: int | None
    next: str


def _questions(vars_: Mapping[str, str]) -> list[_Question]:
    found = []
    count = int(vars_.get("DIALER_SQ_COUNT", "0") or 0)
    for i in range(1, count + 1):
        p = f"DIALER_SQ{i}_"
        keys = {}
        for key in "0123456789*#":
            code = {"*": "S", "#": "H"}.get(key, key)
            if vars_.get(p + "K" + code):
                keys[key] = vars_[p + "K" + code]
        low, high = vars_.get(p + "MIN"), vars_.get(p + "MAX")
        found.append(_Question(vars_.get(p + "NAME", ""), vars_.get(p + "PROMPT", ""),
                               int(vars_.get(p + "DIGITS", "1") or 1), int(vars_.get(p + "TRIES", "1") or 1),
                               float(vars_.get(p + "TIMEOUT", "6") or 6), keys,
                               int(low) if low else None, int(high) if high else None, vars_.get(p + "NEXT", "E")))
    return found


class SurveyScript:
    """[dialer-survey] on the answered leg: a state machine driven by the call's timers."""

    def __init__(self, call: Call, ch: Channel, call_id: str) -> None:
        self.call = call
        self.ch = ch
        self.call_id = call_id
        self.questions = _questions(ch.vars)
        self.optkey = ch.vars.get("DIALER_OPTOUT_KEY") or "9"
        self.profile: SurveyProfile = call.pbx.profile.survey or SurveyProfile()
        self.q = 0  # index of the question being asked
        self.tries = 0
        self.where = "start"  # start | read | wait | hangup
        self._timers: list[TimerHandle] = []
        self.releasing = False  # the callee chose to hang up: the call's own hang-up may go ahead

    @property
    def running(self) -> bool:
        """True while the survey holds the callee (a callee who answers stays for it)."""
        return self.where in ("start", "read", "wait") and not self.releasing

    def _exten(self, b: ev.Batch, app: str, data: str) -> None:
        ch = self.ch
        ch.set(context="dialer-survey", exten="s", priority=ch.priority + 1 if ch.context == "dialer-survey" else 1)
        ch.app, ch.appdata = app, data
        ch.changed()
        b.add(ev.newexten, ch)

    def _set(self, b: ev.Batch, name: str, value: str) -> None:
        self.ch.setvar(name, value)
        b.add(ev.varset, self.ch, name, value)

    def start(self, b: ev.Batch) -> None:
        """Entered from [dialer-outbound] main (DIALER_MODE=survey)."""
        self._exten(b, "NoOp", f"dialer: survey of call {self.call_id}, {len(self.questions)} question(s)")
        if not self.questions:
            self._hangup_soon(b)
            return
        intro = self.ch.vars.get("DIALER_SURVEY_INTRO", "")
        if intro:
            self._exten(b, "Playback", intro)
            self.where = "wait"
            self.call.after(INTRO_S, self._ask_later, True)
        else:
            self._ask(b, first=True)

    def _ask_later(self, first: bool) -> None:
        b = self.call.batch()
        self._ask(b, first)
        self.call.deliver(b)

    def _ask(self, b: ev.Batch, first: bool) -> None:
        if first:
            self.tries = 0
        self.tries += 1
        question = self.questions[self.q]
        opts = self.ch.vars.get(f"DIALER_SQ{self.q + 1}_OPTS", "t")
        self._exten(b, "Read", f"ANS,{question.prompt},{question.digits},{opts},1,{int(question.timeout_s)}")
        self._set(b, "READSTATUS", "ERROR")
        self.where = "read"
        rng = random.Random(f"{self.call.pbx.profile.seed}|{self.call.target.digits}|{question.name}|{self.tries}")
        x = rng.random()
        p = self.profile
        if x < p.hangup:
            self.call.after(p.answer_s / 2, self._callee_leaves)
        elif x < p.hangup + p.timeout:
            self._timers.append(self.call.after(p.answer_s + question.timeout_s, self._read_done, ""))
        elif x < p.hangup + p.timeout + p.optout:
            self._timers.append(self.call.after(p.answer_s, self._press, self.optkey))
        else:
            self._timers.append(self.call.after(p.answer_s, self._press, self._draw(question, rng)))

    def _draw(self, question: _Question, rng: random.Random) -> str:
        weights = self.profile.keys.get(question.name)
        if weights:
            return rng.choices([k for k, _ in weights], weights=[w for _, w in weights])[0]
        if question.low is not None and question.high is not None:
            return str(rng.randint(question.low, question.high))
        accepted = sorted(question.keys)
        return rng.choice(accepted) if accepted else ""

    def _press(self, keys: str) -> None:
        """The callee types `keys` (DTMF on the dialer leg), then Read() returns them."""
        if self.where != "read":
            return
        b = self.call.batch()
        for digit in keys:
            b.add(ev.dtmf_begin, self.ch, digit)
            b.add(ev.dtmf_end, self.ch, digit, 100)
        self.call.deliver(b)
        self._read_done(keys)

    def on_digit(self, b: ev.Batch, digit: str) -> bool:
        """A key the callee's own plan presses (e.g. the opt-out callee's 9): Read() takes it."""
        if self.where != "read":
            return False
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        return self._evaluate(b, digit)

    def _read_done(self, keys: str) -> None:
        if self.where != "read":
            return
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        b = self.call.batch()
        if self._evaluate(b, keys):
            self.call.dialer_hangup(b)
        else:
            self.call.deliver(b)

    def _evaluate(self, b: ev.Batch, keys: str) -> bool:
        """The dialplan after Read(): True when it hangs up at once (opt-out)."""
        question = self.questions[self.q]
        self._set(b, "ANS", keys)
        self._set(b, "READSTATUS", "OK" if keys else "TIMEOUT")
        if keys == self.optkey:
            self.call.cdr_vars["dialer_optout"] = keys
            self._exten(b, "UserEvent", f"DialerOptOut,CallID: {self.call_id},Digit: {keys}")
            b.add(ev.user_event, self.ch, "DialerOptOut", (("CallID", self.call_id), ("Digit", keys)))
            self._exten(b, "Hangup", "16")
            self.where = "hangup"
            return True
        if question.low is not None and question.high is not None:
            valid = keys.isdigit() and question.low <= int(keys) <= question.high
            dest = question.next if valid else ""
        else:
            dest = question.keys.get(keys, "")
        if not dest:
            if self.tries < question.tries:
                self._ask(b, first=False)
                return False
            self._report(b, question.name, keys, "no_answer")
            self._hangup_soon(b)
            return False
        self._report(b, question.name, keys, "answered")
        if dest == "E" or dest == "Q":  # the queue is not simulated: the call ends as after the closing
            closing = self.ch.vars.get("DIALER_SURVEY_CLOSING", "")
            if closing:
                self._exten(b, "Playback", closing)
            self.where = "wait"
            self.call.after(INTRO_S if closing else 0.0, self._hangup)
            return False
        self.q = int(dest) - 1
        self._ask(b, first=True)
        return False

    def _report(self, b: ev.Batch, question: str, keys: str, status: str) -> None:
        fields = (("CallID", self.call_id), ("Question", question), ("Keys", keys), ("Status", status))
        # As the shipped dialplan does: the answer kept in CDR(dialer_survey) too, for a dialer that
        # misses the UserEvent (killed, or its AMI connection down) and settles the call from the record.
        kept = self.call.cdr_vars.get("dialer_survey", "")
        self.call.cdr_vars["dialer_survey"] = f"{kept}{question}:{keys}:{status}:{int(time.time())};"
        self._exten(b, "UserEvent", "DialerSurveyAnswer," + ",".join(f"{k}: {v}" for k, v in fields))
        b.add(ev.user_event, self.ch, "DialerSurveyAnswer", fields)
        self.call.pbx.survey_answers.append((self.call_id, question, keys, status))

    def _hangup_soon(self, b: ev.Batch) -> None:
        self.where = "wait"
        self.call.after(0.0, self._hangup)

    def _hangup(self) -> None:
        if self.where == "hangup" or self.call.phase != "up":
            return
        b = self.call.batch()
        self._exten(b, "Hangup", "16")
        self.where = "hangup"
        self.call.dialer_hangup(b)

    def _callee_leaves(self) -> None:
        if self.where != "read":
            return
        self.releasing = True
        self.call.callee_hangs_up_now()

    def interrupt(self, b: ev.Batch) -> None:
        """The leg is hung up from outside during the survey."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self.where == "read":
            self._set(b, "ANS", "")
            self._set(b, "READSTATUS", "HANGUP")
        self.where = "hangup"
