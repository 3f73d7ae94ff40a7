"""The `[campaigns.NAME.survey]` table: ordered questions, where each answer leads, intro and closing.

A route names what comes after an answer: `next` (the following question; after the last one, the
end), a question's name, `end` (closing sound, hang up) or `queue` (the campaign's agent queue,
DIALER_QUEUE). The dialplan follows routes blindly, so a route back to an earlier question could
keep a callee in the survey forever: every survey must be a graph without cycles (checked here).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

ROUTES = ("next", "end", "queue")  # besides a question's name
KEYS = "0123456789*#"
_QUESTION_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_SOUND = r"[A-Za-z0-9_/.-]*"  # Asterisk sound names: no comma, pipe or space (Read() takes them as is)
_TAG = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"  # as dialer.crm.store.check_tag


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SurveyAnswer(_Strict):
    """What one key means, and what follows it."""

    meaning: str = Field(min_length=1, max_length=64, pattern=r"[^\r\n,]+")
    next: str = Field(default="", description="route after this key; empty = the question's `next`")
    tag: str = Field(default="", pattern=f"(?:{_TAG})?", description="tag the contact with this")
    callback: bool = Field(default=False, description="schedule a callback (campaign's callbacks.delay_s)")


class NumberRange(_Strict):
    """A number typed on the keypad and ended by the terminator (or by the timeout)."""

    min: int = Field(default=0, ge=0)
    max: int = Field(ge=0, le=99_999)

    @model_validator(mode="after")
    def _ordered(self) -> NumberRange:
        if self.min > self.max:
            raise ValueError(f"range: min {self.min} is above max {self.max}")
        return self


class SurveyQuestion(_Strict):
    """One question: its prompt, the keys it accepts (or a number range), tries and routes."""

    name: str = Field(pattern=_QUESTION_NAME.pattern)
    prompt: str = Field(min_length=1, pattern=_SOUND)
    keys: dict[str, SurveyAnswer] = Field(default_factory=dict)
    range: NumberRange | None = None
    terminator: str = Field(default="#", pattern=r"[#*]", description="ends a number (range questions)")
    tries: int = Field(default=2, ge=1, le=5, description="times the prompt is played without a valid answer")
    timeout_s: int = Field(default=6, ge=1, le=60, description="seconds to answer after the prompt")
    next: str = Field(default="next", description="route after any answer that names none")

    @model_validator(mode="after")
    def _one_kind(self) -> SurveyQuestion:
        if bool(self.keys) == (self.range is not None):
            raise ValueError(f"question {self.name}: give either keys or range (exactly one)")
        for key in self.keys:
            if len(key) != 1 or key not in KEYS:
                raise ValueError(f"question {self.name}: key {key!r} must be one of 0-9, * or #")
        return self

    def routes(self) -> dict[str, str]:
        """Every route the question can take: key (or `any` for a range) -> route."""
        if self.range is not None:
            return {"any": self.next}
        return {key: answer.next or self.next for key, answer in self.keys.items()}

    def meaning(self, keys: str) -> str | None:
        """What the pressed keys mean (None when the question does not accept them)."""
        if self.range is not None:
            if not keys.isdigit() or not self.range.min <= int(keys) <= self.range.max:
                return None
            return str(int(keys))
        answer = self.keys.get(keys)
        return None if answer is None else answer.meaning

    def answer(self, keys: str) -> SurveyAnswer | None:
        """The configured answer for a key question (None for a range or an unknown key)."""
        return self.keys.get(keys)

    def max_digits(self) -> int:
        """How many keys Read() collects: one for a key question, the digits of max for a range."""
        return 1 if self.range is None else len(str(self.range.max))


class SurveyConfig(_Strict):
    """The survey a campaign of mode = "survey" runs after the callee answers."""

    intro: str = Field(default="", pattern=_SOUND, description="sound before the first question")
    closing: str = Field(default="", pattern=_SOUND, description="sound after the last answer")
    questions: tuple[SurveyQuestion, ...] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _routes_resolve(self) -> SurveyConfig:
        problems = route_problems(self.questions)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def question(self, name: str) -> SurveyQuestion | None:
        """The question of that name."""
        return next((q for q in self.questions if q.name == name), None)

    def target(self, index: int, route: str) -> str:
        """Where `route` of question `index` (0-based) leads: a question name, `end` or `queue`."""
        if route == "next":
            return self.questions[index + 1].name if index + 1 < len(self.questions) else "end"
        return route


def route_problems(questions: Sequence[SurveyQuestion]) -> list[str]:
    """Names that do not resolve, and cycles (a survey that can loop forever); empty = usable."""
    names = [q.name for q in questions]
    problems = [f"question name {n!r} is used twice" for n in sorted({n for n in names if names.count(n) > 1})]
    if problems:
        return problems
    for question in questions:
        for key, route in question.routes().items():
            if route not in ROUTES and route not in names:
                problems.append(f"question {question.name}: key {key} leads to {route!r}, which is no question "
                                f"(known: {', '.join(names)}) nor one of {', '.join(ROUTES)}")
    if problems:
        return problems
    cycle = find_cycle(route_graph(questions))
    if cycle:
        problems.append("questions can loop forever: " + " -> ".join(cycle)
                        + " (a route may only lead to a later question, end or queue)")
    return problems


def route_graph(questions: Sequence[SurveyQuestion]) -> dict[str, set[str]]:
    """Question name -> the questions its answers lead to (end and queue leave the graph)."""
    names = [q.name for q in questions]
    graph: dict[str, set[str]] = {}
    for i, question in enumerate(questions):
        targets = set()
        for route in question.routes().values():
            target = (names[i + 1] if i + 1 < len(names) else "end") if route == "next" else route
            if target in names:
                targets.add(target)
        graph[question.name] = targets
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str]:
    """One cycle of the graph as a path that starts and ends at the same node; [] when there is none."""
    colour: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        colour[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in colour:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        colour[node] = 2
        return []

    for start in graph:
        if start not in colour:
            found = visit(start)
            if found:
                return found
    return []


def optout_conflicts(survey: SurveyConfig, optout_key: str) -> list[str]:
    """Questions that give the opt-out key a second meaning (it must opt out at every question)."""
    problems = []
    for question in survey.questions:
        if optout_key in question.keys:
            problems.append(f"question {question.name}: key {optout_key} is the opt-out key "
                            "(campaign variables.DIALER_OPTOUT_KEY, default 9); give it no other meaning")
        rng = question.range
        if rng is not None and optout_key.isdigit() and rng.min <= int(optout_key) <= rng.max:
            problems.append(f"question {question.name}: the range {rng.min}-{rng.max} includes the opt-out "
                            f"key {optout_key}; set variables.DIALER_OPTOUT_KEY = \"*\" for a number question")
        if rng is not None and question.terminator == optout_key:
            problems.append(f"question {question.name}: terminator {optout_key} is the opt-out key")
    return problems
