"""Survey campaigns: questions answered with the keypad, answers stored per attempt and question.

- `config`: the `[campaigns.NAME.survey]` table and its checks (routes resolve, no loop, opt-out key free).
- `channel_vars`: the survey as the channel variables config/asterisk/extensions_dialer.conf reads.
- `answers`: a DialerSurveyAnswer UserEvent turned into an answer with its meaning.
- `component`: the daemon part that stores answers and runs their follow-ups (callback, tag).
The SQL lives in dialer.store.surveys.
"""
