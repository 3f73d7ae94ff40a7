"""One attempt pipeline for every medium (calls and texts).

- `medium.py`: what differs per medium: its gate facts and policy (`GateProfile`), and the `Medium`
  protocol (what it makes of an allowed lead, the rows it writes, the event it publishes, its send).
- `judging.py`: the one function that builds the gate requests for (campaign, medium) and returns
  the decisions; the engine, the SMS sender, `dialer check` and `dialer scrub` all judge with it.
- `attempts.py`: the shared steps of a turn: claim -> gate sync -> judge -> decisions and audit
  rows -> tx hooks -> commit -> event hooks -> the medium sends; holds and their alerts too.
- `storage_errors.py`: the one policy of the sending loops for a failing database (backoff, reporting).
- `call_medium.py`: calls (Originate); `dialer/sms/medium.py`: texts (MessageSend/DongleSendSMS).
"""
