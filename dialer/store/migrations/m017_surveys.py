"""Migration 17: survey answers (dialer.surveys), one row per call and question.

A question is asked at most once per call (check-config refuses routes that loop), so
(call_id, question) is unique: a UserEvent seen twice (a reconnect's replay) stores one row.
`status` answered: `keys` are what the callee pressed, `meaning` what the config gave them;
no_answer: the tries ran out (the survey ended there). `leads_to`: where the answer led (a
question's name, end or queue): a survey is complete when an answer led to end or queue.
"""

from dialer.store.migrations.base import Migration

MIGRATION = Migration(17, "surveys: survey_answers", """
CREATE TABLE survey_answers (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL,
    attempt_id INTEGER NOT NULL,
    lead_id INTEGER NOT NULL,
    campaign_id TEXT NOT NULL,
    question TEXT NOT NULL,
    position INTEGER NOT NULL,
    keys TEXT NOT NULL,
    meaning TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('answered', 'no_answer')),
    leads_to TEXT NOT NULL,
    answered_at REAL NOT NULL,
    UNIQUE (call_id, question)
);
CREATE INDEX survey_answers_campaign ON survey_answers (campaign_id, answered_at);
CREATE INDEX survey_answers_lead ON survey_answers (lead_id);
CREATE INDEX survey_answers_question ON survey_answers (campaign_id, question, meaning);
""")
