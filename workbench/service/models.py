"""What the service's endpoints take and answer: the shapes in its OpenAPI description.

Requests are checked strictly (no text taken for a number, no number for text),
except that JSON Schema's integers include ``3.0``. Errors all have one shape,
:class:`ErrorAnswer`.
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "ERRORS",
    "ID_MAX",
    "ErrorAnswer",
    "Event",
    "EventBatch",
    "EventsAnswer",
    "Item",
    "RecommendAnswer",
    "RecommendRequest",
    "RecommendationsAnswer",
    "Rejected",
]

ID_MAX = 1024


def _whole(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer; Python's JSON reader gives it as a float.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole)]


class Event(BaseModel):
    """One feedback event. Keys beyond these are kept in the stored event's ``context``."""

    model_config = ConfigDict(
        extra="allow",
        strict=True,
        # Names starting with __wb_ are the capture's own bookkeeping; the store cannot
        # tell apart column names that differ only after a NUL character.
        json_schema_extra={"propertyNames": {"pattern": "^(?!__wb_)[^\\u0000]*$"}},
    )

    event_id: str = Field(
        min_length=1,
        description="Unique id chosen by the app. A retried request with the same ids is "
        "counted as duplicates, never stored twice.",
    )
    ts: str | int | float = Field(
        description="When it happened: ISO 8601 text (2026-01-31T12:00:00Z; UTC when no "
        "offset) or seconds since 1970-01-01 UTC."
    )
    user_id: str
    event_type: str = Field(description="play, click, rating, purchase ...")
    item_id: str | None = None
    value: float | None = Field(default=None, allow_inf_nan=False)
    context: dict[str, Any] | None = None
    source: str | None = Field(default=None, description="Default: service.")


class EventBatch(BaseModel):
    """The body of ``POST /events``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    events: list[Event] = Field(min_length=1)


class Rejected(BaseModel):
    """A quarantined event: its position in the request and why it was refused."""

    index: int
    event_id: str
    reason: str


class EventsAnswer(BaseModel):
    """Where every event of a ``POST /events`` went (``rows_in = accepted + quarantined + duplicates``)."""

    status: Literal["committed", "already_ingested", "queued"]
    batch_id: str | None
    rows_in: int
    accepted: int
    quarantined: int
    duplicates: int
    rejected: list[Rejected]
    durable: bool = Field(description="True when the events were committed before this answer.")


class Item(BaseModel):
    """One recommended item; ``propensity`` only for items a policy chose."""

    item_id: str
    rank: int
    score: float | None
    propensity: float | None = None


class RecommendationsAnswer(BaseModel):
    """A user's list and where it came from."""

    user_id: str
    items: list[Item]
    source: Literal["precomputed", "popularity", "model"]
    fallback: bool = Field(description="True when the popularity list answered.")
    model: str | None
    reason: str
    computed_at: str | None
    as_of: str | None = Field(
        default=None,
        description="When the newest event batch blended into the answer was committed.",
    )
    blended: list[str] = Field(
        default_factory=list, description="What went into the answer, in words."
    )


class RelatedAnswer(BaseModel):
    """The items most often played by the users who played an item."""

    item_id: str
    items: list[Item]
    model: str | None = Field(description="Whose lists (and so whose scope) are served.")
    as_of: str | None
    blended: list[str]


class RecommendRequest(BaseModel):
    """The body of ``POST /recommend``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user_id: str = Field(min_length=1, max_length=ID_MAX)
    k: WholeNumber = Field(default=10, ge=1, le=1000)
    context: dict[str, Any] | None = Field(
        default=None, description='What is known about the request; "exclude": [item ids].'
    )
    model: str | None = Field(default=None, description="name@alias or name@version.")
    policy: Literal["epsilon-greedy", "softmax"] | None = Field(
        default=None,
        description="Explore/exploit policy; its shown items are logged to deliveries.",
    )
    epsilon: float = Field(default=0.1, ge=0, le=1)
    temperature: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    experiment: str | None = None
    variant: str | None = None


class RecommendAnswer(RecommendationsAnswer):
    """An on-the-fly answer; with a policy, its name and the logged delivery ids."""

    policy: str | None = None
    delivery_ids: list[str] = Field(default_factory=list)


class ErrorAnswer(BaseModel):
    """What went wrong and what to do; ``detail`` lists field errors when there are any."""

    error: str
    detail: list[dict[str, Any]] | None = None


#: Error answers every endpoint may give, for the OpenAPI description.
ERRORS = {code: {"model": ErrorAnswer} for code in (400, 401, 403, 404, 409, 413, 422, 500, 503)}
