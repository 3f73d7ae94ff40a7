"""The survey part of `dialer report`: per survey campaign, per question the distribution of answers,
how many reached it, how many stopped there; and the completion rate.

- `calls_answered`: the campaign's calls a person answered (each could have started the survey).
- `surveys`: calls with at least one stored answer; `complete`: one of its answers led to end or
  queue; `completion_rate` = complete / calls_answered.
- per question, `stopped`: calls that were last at this question and never completed: the tries ran
  out there (status no_answer), the callee hung up while it was asked (the previous answer led to
  it), or, for the first question, the call was answered and no answer came at all. `reached` is
  the answers stored for it plus the hang-ups while it was asked.
The distribution and the complete count are plain GROUP BYs (see dialer.store.surveys).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from dialer.store import Tx
from dialer.store import surveys as survey_store
from dialer.store.surveys import SurveyCall


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def survey_figures(calls: Sequence[SurveyCall], calls_answered: int) -> dict[str, Any]:
    """The figures of one campaign's surveys (pure: from the stored answers)."""
    order: dict[str, int] = {}
    distribution: dict[str, Counter[str]] = {}
    no_answer: Counter[str] = Counter()
    stopped: Counter[str] = Counter()
    hung_up_at: Counter[str] = Counter()
    for call in calls:
        for a in call.answers:
            order[a.question] = min(order.get(a.question, a.position), a.position)
            if a.status == "no_answer":
                no_answer[a.question] += 1
            else:
                distribution.setdefault(a.question, Counter())[a.meaning] += 1
        if call.complete:
            continue
        last = call.answers[-1]
        if last.status == "no_answer":
            stopped[last.question] += 1
        else:  # answered, then hung up while the next question was asked
            stopped[last.leads_to] += 1
            hung_up_at[last.leads_to] += 1
    complete = sum(1 for c in calls if c.complete)
    first = min(order, key=lambda q: order[q]) if order else None
    silent = max(calls_answered - len(calls), 0)  # answered, but no answer came at all
    if first is not None and silent:
        stopped[first] += silent
        hung_up_at[first] += silent
    names = sorted(set(order) | set(stopped), key=lambda q: (order.get(q, 999), q))
    questions = []
    for name in names:
        answered = sum(distribution.get(name, Counter()).values())
        questions.append({
            "question": name,
            "reached": answered + no_answer[name] + hung_up_at[name],
            "answered": answered,
            "no_answer": no_answer[name],
            "stopped": stopped[name],
            "distribution": dict(sorted(distribution.get(name, Counter()).items(), key=lambda kv: (-kv[1], kv[0]))),
        })
    return {"calls_answered": calls_answered, "surveys": len(calls), "complete": complete,
            "partial": len(calls) - complete, "completion_rate": _rate(complete, calls_answered),
            "questions": questions}


async def survey_report(tx: Tx, campaigns: Sequence[str], since: float | None, until: float | None,
                        ) -> dict[str, dict[str, Any]]:
    """Campaign -> its survey figures, for each campaign with stored answers."""
    if await tx.fetchone("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'survey_answers'") is None:
        return {}
    found: dict[str, dict[str, Any]] = {}
    for name in campaigns:
        calls = await survey_store.surveys_of(tx, name, since, until)
        if calls:
            answered = await survey_store.answered_calls(tx, name, since, until)
            found[name] = survey_figures(calls, answered)
    return found
