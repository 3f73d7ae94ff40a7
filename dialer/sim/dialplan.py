"""The `[dialer]` context the answered leg runs (README of the transcripts, extensions.conf).

```
s,1  NoOp(dialer: answered call ${DIALER_CALL_ID})
s,2  Set(DIALER_STATE=answered)
s,3  Set(REC=${DIALER_REC_FILE} or ${RECDIR}/${UNIQUEID}.wav; empty when DIALER_RECORD=0)
s,4  MixMonitor(${REC})   (skipped when DIALER_RECORD=0)
s,5  UserEvent(DialerAnswered,CallID: ...,Recording: ...)
s,6  GotoIf(${DIALER_AMD} = 1 ? amd : main)
s,7  (amd) AMD()   s,8 UserEvent(DialerAMD,...)   s,9 GotoIf(MACHINE ? machine)
s,10 (main) GotoIf(queue)   s,11 Read(OPTOUT,...,1,,1,6)   s,12 GotoIf(OPTOUT = 9 ? optout)
s,13 Wait(1)   s,14 Hangup(16)   s,15 (optout) UserEvent(DialerOptOut,...)   s,16 Hangup(16)
s,17 (machine) Wait(1)   s,18 Hangup(16)
s,19 (callback: the digit read = ${DIALER_CALLBACK_KEY}) UserEvent(DialerCallback,CallID: ...,Digit: ...)
s,20 Playback(callback confirmation)   s,21 Hangup(16)
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dialer.sim import events as ev
from dialer.sim.callees import Outcome
from dialer.sim.survey import SurveyScript

if TYPE_CHECKING:
    from asyncio import TimerHandle

    from dialer.sim.callflow import Call

SOUNDS = "/var/lib/asterisk/sounds/dialer"
READ_DATA = f"OPTOUT,{SOUNDS}/dialer-message,1,,1,6"
PRIORITIES = 21  # extensions in [dialer] s: the highest Priority an Originate may name

# AMD() run times and results as recorded (files 14 and 15), in simulated seconds.
AMD_HUMAN = ("HUMAN", "HUMAN-816-800", 2.3)
AMD_MACHINE = ("MACHINE", "LONGGREETING-1500-1500", 2.36)
WAIT_S = 1.0


class DialerScript:
    """The answered leg's dialplan: a small state machine driven by the call's timers."""

    def __init__(self, call: Call) -> None:
        self.call = call
        assert call.one is not None
        self.ch = call.one
        self.where = "start"  # start | amd | read | wait | hangup
        self._read_timer: TimerHandle | None = None
        self.survey: SurveyScript | None = None  # DIALER_MODE=survey: [dialer-survey] runs instead

    @property
    def holds_callee(self) -> bool:
        """True while a survey keeps the callee on the line (a callee who answers takes it)."""
        return self.survey is not None and self.survey.running

    @property
    def call_id(self) -> str:
        """${DIALER_CALL_ID} as the dialplan sees it."""
        return self.ch.vars.get("DIALER_CALL_ID", "")

    def _exten(self, b: ev.Batch, priority: int, app: str, data: str) -> None:
        ch = self.ch
        ch.priority = priority
        ch.app = app
        ch.appdata = data
        ch.changed()
        b.add(ev.newexten, ch)

    def _set(self, b: ev.Batch, name: str, value: str) -> None:
        self.ch.setvar(name, value)
        b.add(ev.varset, self.ch, name, value)

    def start(self, b: ev.Batch) -> None:
        """Run s,1 .. up to AMD() or Read() at answer time."""
        ch, call = self.ch, self.call
        ch.set(context=call.req.context, exten="s", priority=1)
        cid = self.call_id
        self._exten(b, 1, "NoOp", f"dialer: answered call {cid}")
        self._exten(b, 2, "Set", "DIALER_STATE=answered")
        self._set(b, "DIALER_STATE", "answered")
        if ch.vars.get("DIALER_RECORD") == "0":
            # config/asterisk/extensions_dialer.conf records nothing when the dialer says so.
            rec = ""
            self._exten(b, 3, "Set", "REC=")
            self._set(b, "REC", rec)
        else:
            rec = ch.vars.get("DIALER_REC_FILE") or f"{call.pbx.recdir}/{ch.uniqueid}.wav"
            self._exten(b, 3, "Set", f"REC={rec}")
            self._set(b, "REC", rec)
            self._exten(b, 4, "MixMonitor", rec)
            self._set(b, "MIXMONITOR_FILENAME", rec)
            b.add(ev.mixmonitor_start, ch)
            call.start_recording(rec)
        # config/asterisk/extensions_dialer.conf: Set(CDR(dialer_call_id)=...), Set(CDR(dialer_recording)=...)
        call.cdr_vars["dialer_call_id"] = cid
        call.cdr_vars["dialer_recording"] = rec
        self._exten(b, 5, "UserEvent", f"DialerAnswered,CallID: {cid},Recording: {rec}")
        b.add(ev.user_event, ch, "DialerAnswered", (("CallID", cid), ("Recording", rec)))
        amd = ch.vars.get("DIALER_AMD") == "1"
        self._exten(b, 6, "GotoIf", f"{int(amd)}?amd:main")
        if amd:
            self._exten(b, 7, "AMD", "")
            self.where = "amd"
            machine = call.plan.outcome is Outcome.MACHINE
            call.after((AMD_MACHINE if machine else AMD_HUMAN)[2], self._amd_done)
        else:
            self._main(b)

    def _main(self, b: ev.Batch) -> None:
        # DIALER_MODE=queue is not simulated: the call always takes the message branch.
        self._exten(b, 10, "GotoIf", "0?queue")
        if self.ch.vars.get("DIALER_MODE") == "survey":
            self._exten(b, 11, "GotoIf", "1?dialer-survey,s,1")
            self.where = "survey"
            self.survey = SurveyScript(self.call, self.ch, self.call_id)
            self.survey.start(b)
            return
        self._exten(b, 11, "Read", READ_DATA)
        self._set(b, "READSTATUS", "ERROR")  # Read sets it at its start (file 03)
        self.where = "read"
        self._read_timer = self.call.after(self.call.pbx.profile.read_s, self._read_timeout)

    def _amd_done(self) -> None:
        call = self.call
        b = call.batch()
        status, cause, _ = AMD_MACHINE if call.plan.outcome is Outcome.MACHINE else AMD_HUMAN
        self._set(b, "AMDSTATUS", status)
        self._set(b, "AMDCAUSE", cause)
        call.cdr_vars["dialer_amd"] = status
        cid = self.call_id
        self._exten(b, 8, "UserEvent", f"DialerAMD,CallID: {cid},Status: {status},Cause: {cause}")
        b.add(ev.user_event, self.ch, "DialerAMD", (("CallID", cid), ("Status", status), ("Cause", cause)))
        machine = status == "MACHINE"
        self._exten(b, 9, "GotoIf", f"{int(machine)}?machine")
        if machine:
            self._exten(b, 17, "Wait", "1")
            self.where = "wait"
            call.after(WAIT_S, self._hangup, 18)
        else:
            self._main(b)
        call.deliver(b)

    def _read_timeout(self) -> None:
        call = self.call
        b = call.batch()
        self._set(b, "OPTOUT", "")
        self._set(b, "READSTATUS", "TIMEOUT")
        self._exten(b, 12, "GotoIf", "0?optout")
        self._exten(b, 13, "Wait", "1")
        self.where = "wait"
        call.after(WAIT_S, self._hangup, 14)
        call.deliver(b)

    def _hangup(self, priority: int) -> None:
        b = self.call.batch()
        self._exten(b, priority, "Hangup", "16")
        self.where = "hangup"
        self.call.dialer_hangup(b)

    def on_digit(self, b: ev.Batch, digit: str) -> bool:
        """A DTMF digit ended on the leg; returns True when the script hangs up (opt-out)."""
        if self.survey is not None:
            return self.survey.on_digit(b, digit)
        if self.where != "read":
            return False  # outside Read() a digit changes nothing
        if self._read_timer is not None:
            self._read_timer.cancel()
        self._set(b, "OPTOUT", digit)
        self._set(b, "READSTATUS", "OK")
        optout = digit == "9"
        self._exten(b, 12, "GotoIf", f"{int(optout)}?optout")
        callback_key = self.ch.vars.get("DIALER_CALLBACK_KEY", "")
        if not optout and callback_key and digit == callback_key:
            self.call.cdr_vars["dialer_callback"] = digit
            cid = self.call_id
            self._exten(b, 19, "UserEvent", f"DialerCallback,CallID: {cid},Digit: {digit}")
            b.add(ev.user_event, self.ch, "DialerCallback", (("CallID", cid), ("Digit", digit)))
            self._exten(b, 20, "Playback", f"{SOUNDS}/dialer-callback")
            self.where = "wait"
            self.call.after(WAIT_S, self._hangup, 21)
            return False
        if not optout:
            self._exten(b, 13, "Wait", "1")
            self.where = "wait"
            self.call.after(WAIT_S, self._hangup, 14)
            return False
        self.call.cdr_vars["dialer_optout"] = digit
        cid = self.call_id
        self._exten(b, 15, "UserEvent", f"DialerOptOut,CallID: {cid},Digit: {digit}")
        b.add(ev.user_event, self.ch, "DialerOptOut", (("CallID", cid), ("Digit", digit)))
        self._exten(b, 16, "Hangup", "16")
        self.where = "hangup"
        return True

    def interrupt(self, b: ev.Batch) -> None:
        """The leg is being hung up from outside: the running application reports it."""
        if self.survey is not None:
            self.survey.interrupt(b)
        if self.where == "read":
            self._set(b, "OPTOUT", "")
            self._set(b, "READSTATUS", "HANGUP")
        elif self.where == "amd":
            self._set(b, "AMDSTATUS", "HANGUP")
            self._set(b, "AMDCAUSE", "")
        self.where = "hangup"
