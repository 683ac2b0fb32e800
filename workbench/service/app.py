"""The ASGI application: capture events, deliver recommendations, over HTTP.

Endpoints (the OpenAPI description is at ``/openapi.json``):

- ``POST /events``: one or more events, ingested exactly as ``workbench ingest``
  ingests a JSON-lines file; answers where each went. Needs the bearer token.
- ``GET /recommendations/{user_id}?k=``: the user's stored list (delivery A)
  blended with what happened since (delivery C: items they met since are left out,
  what they just played re-ranks and extends it, trending tops it up), or trending
  as the fallback, flagged. Open; served from memory, which follows
  every commit.
- ``GET /items/{item_id}/related?k=``: the items its players played most (co-occurrence,
  delivery C). Open; counted in memory once per item until new events are folded in.
- ``POST /recommend``: score one user now (delivery B), optionally through an
  explore/exploit policy whose shown items are logged to ``deliveries`` with
  their propensities. Needs the bearer token.
- ``GET /health``: what the service holds and whether its writes succeed.
"""

import asyncio
import contextlib
import json
import os
import threading
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from workbench.capture.staging import check_column_names, max_columns
from workbench.config import resolve_service_settings
from workbench.delivery.recent import RELATED_ITEMS
from workbench.exceptions import (
    ArtifactTampered,
    IngestError,
    InvalidArgument,
    ModelNotFound,
    StoreError,
    WorkbenchError,
)
from workbench.service.models import (
    ERRORS,
    ID_MAX,
    EventBatch,
    EventsAnswer,
    RecommendAnswer,
    RecommendationsAnswer,
    RecommendRequest,
    RelatedAnswer,
)
from workbench.service.security import BodyLimit, token_problem
from workbench.service.snapshot import ListSnapshot
from workbench.service.writer import EventWriter, QueueFull
from workbench.service.writer_process import WriterProcess

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = ["create_app"]

# --- the application --------------------------------------------------------------------


def create_app(store: "Store | str | None" = None, *, settings: dict[str, Any] | None = None):
    """The service as an ASGI application (FastAPI).

    Parameters
    ----------
    store : Store or str, optional
        The store, or its URL; default the configured store. It is opened when
        the application starts and held only while a unit of work runs.
    settings : dict, optional
        Overrides of ``[service]`` settings (see
        :func:`workbench.config.resolve_service_settings`).

    Returns
    -------
    fastapi.FastAPI
        Run it with :func:`workbench.service.serve` or any ASGI server.
    """
    settings = resolve_service_settings(settings)
    columns = max_columns()  # read once: every event is checked against it
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        from workbench.store import Store

        opened = store if hasattr(store, "writing") else Store.open(store)
        snapshot = ListSnapshot(
            opened,
            model=settings["model"],
            refresh_seconds=settings["refresh_seconds"],
            half_life=settings["trending_half_life"],
        )
        if settings["writer"] == "process" and opened.path is not None:
            # Checking and committing events in a process of their own: the answers to
            # reads never wait for the interpreter while a batch is written.
            writer = WriterProcess(
                opened.url, settings, max_columns=columns, on_commit=snapshot.poke
            )
        else:
            writer = EventWriter(
                opened,
                durability=settings["durability"],
                max_group_events=settings["max_group_events"],
                max_queued_events=settings["max_queued_events"],
                # What the writer commits is folded into the answers at once, in its own
                # session on the store, not at the snapshot's next tick.
                on_commit=snapshot.fold,
            )
        await run_in_threadpool(snapshot.start)
        await run_in_threadpool(writer.start)
        state.update(store=opened, writer=writer, snapshot=snapshot, policies={})
        try:
            yield
        finally:
            # Requests in flight have been answered; write what is still queued.
            await run_in_threadpool(writer.close)
            await run_in_threadpool(snapshot.stop)

    app = FastAPI(
        title="Village Workbench service",
        summary="Capture feedback events and deliver recommendations.",
        version=_version(),
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=settings["max_body_bytes"])
    app.openapi = lambda: _describe(app, settings)
    _add_error_handlers(app)
    bearer = HTTPBearer(auto_error=False, description="The token of [service] / WORKBENCH_TOKEN.")

    def may_write(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        problem = token_problem(settings["token"], request.headers.get("authorization"))
        if problem is not None:
            status, message = problem
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            raise HTTPException(status, message, headers=headers)

    @app.post(
        "/events",
        response_model=EventsAnswer,
        responses={**ERRORS, 202: {"model": EventsAnswer}},
        dependencies=[Depends(may_write)],
        summary="Capture events",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/EventBatch"}}
                },
            }
        },
    )
    async def post_events(request: Request) -> JSONResponse:
        """Ingest events like `workbench ingest`: each is accepted, quarantined (with the
        reason) or counted as a duplicate. Answered after the events are committed
        (200), or once queued in buffer mode (202)."""
        body = await request.body()
        writer = state["writer"]
        if isinstance(writer, WriterProcess):
            # The writer process checks the body: this interpreter only passes it on.
            submitted = await run_in_threadpool(writer.submit_body, body)
        else:
            # Parsing and checking a batch is the costliest step of a request: done off
            # the event loop, so reads keep being answered while a large batch is checked.
            events = await run_in_threadpool(
                _read_events, body, settings["max_batch_events"], columns
            )
            submitted = writer.submit_events(events)
        outcome = await asyncio.wrap_future(submitted)
        return JSONResponse(
            {**outcome.__dict__},
            status_code=202 if outcome.status == "queued" else 200,
        )

    @app.get(
        "/recommendations/{user_id}",
        response_model=RecommendationsAnswer,
        responses=ERRORS,
        summary="A user's stored list",
    )
    async def get_recommendations(
        user_id: Annotated[str, Path(min_length=1, max_length=ID_MAX)],
        k: Annotated[int, Query(ge=1, le=1000, description="Items wanted.")] = 10,
    ) -> JSONResponse:
        """The user's precomputed list without the items they met since it was
        computed, topped up from trending; or trending when they have none (``fallback``
        true, ``reason`` says why). ``as_of`` says when the newest events folded in were
        committed, ``blended`` what went into the answer. Served from memory."""
        return JSONResponse(state["snapshot"].lookup(user_id, k))

    @app.get(
        "/items/{item_id}/related",
        response_model=RelatedAnswer,
        responses=ERRORS,
        summary="Items played with an item",
    )
    async def get_related(
        item_id: Annotated[str, Path(min_length=1, max_length=ID_MAX)],
        k: Annotated[int, Query(ge=1, le=RELATED_ITEMS, description="Items wanted.")] = 10,
    ) -> JSONResponse:
        """The items most often played by the users who played this one (co-occurrence,
        in the served model's scope and feedback: a skip is no play), with how many users
        played both. Counted in memory from the events folded in, on the first ask, and
        kept until new events are folded in."""
        return JSONResponse(await run_in_threadpool(state["snapshot"].related, item_id, k))

    @app.post(
        "/recommend",
        response_model=RecommendAnswer,
        responses=ERRORS,
        dependencies=[Depends(may_write)],
        summary="Score one user now",
    )
    async def post_recommend(body: RecommendRequest) -> JSONResponse:
        """Score the user with the model now (delivery B). With a ``policy``, draw an
        explore/exploit slate and log every shown item to ``deliveries`` with its
        propensity (answered after the log is committed)."""
        if body.policy is None:
            answer = await run_in_threadpool(_recommend_now, state, body)
            return JSONResponse(answer)
        slate = await run_in_threadpool(_draw_slate, state, body)
        ids = await asyncio.wrap_future(
            state["writer"].submit_slates([slate], experiment=body.experiment, variant=body.variant)
        )
        return JSONResponse(_slate_answer(slate, ids))

    @app.get("/health", summary="Is the service well")
    async def health() -> dict[str, Any]:
        """What the service serves and whether its writes succeed; never opens the store."""
        writer = state["writer"]
        return {
            "status": "ok" if writer.last_error is None else "degraded",
            "store": state["store"].location,
            # Which of the service's processes answered (one per worker).
            "worker": {"pid": os.getpid(), "workers": settings["workers"]},
            "writes_enabled": bool(settings["token"]),
            "durability": settings["durability"],
            "writer": {
                "queued_events": writer.queued_events,
                "committed_events": writer.committed_events,
                "commits": writer.commits,
                "last_commit_at": writer.last_commit_at.isoformat()
                if writer.last_commit_at
                else None,
                "last_error": writer.last_error,
                "process": writer.pid if isinstance(writer, WriterProcess) else None,
                "restarts": getattr(writer, "restarts", 0),
            },
            "snapshot": state["snapshot"].status(),
            "limits": {
                "max_body_bytes": settings["max_body_bytes"],
                "max_batch_events": settings["max_batch_events"],
            },
        }

    return app


def _describe(app: FastAPI, settings: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI description, with this service's configured batch limit in it."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        # POST /events reads its body itself (off the event loop): describe it here.
        batch = EventBatch.model_json_schema(ref_template="#/components/schemas/{model}")
        schema["components"]["schemas"].update(batch.pop("$defs", {}))
        schema["components"]["schemas"]["EventBatch"] = batch
        events = schema["components"]["schemas"]["EventBatch"]["properties"]["events"]
        # Checked by the handler (413 with the limit), not by validation (422).
        events["maxItems"] = settings["max_batch_events"]
        app.openapi_schema = schema
    return app.openapi_schema


def _version() -> str:
    from workbench.version import __version__

    return __version__


def _read_events(body: bytes, limit: int, columns: int) -> list[tuple[str, str]]:
    """The events of a ``POST /events`` body as ``(event_id, JSON line)`` pairs.

    Raises HTTPException: 400 for text that is not JSON, 422 for JSON of the wrong
    shape, 413 for more than ``limit`` events.
    """
    from pydantic import ValidationError

    try:
        batch = EventBatch.model_validate_json(body)
    except ValidationError as error:
        raise RequestValidationError(
            [{**problem, "loc": ("body", *problem["loc"])} for problem in error.errors()]
        ) from error
    if len(batch.events) > limit:
        raise HTTPException(
            413,
            f"The request holds {len(batch.events):,} events; at most {limit:,} per "
            "request ([service] max_batch_events). Split it.",
        )
    lines = []
    spelled: dict[str, tuple[int, str]] = {}  # a key, case folded -> first event and spelling
    for index, event in enumerate(batch.events):
        fields = event.model_dump(exclude_unset=True)
        lines.append(_as_line(index, event.event_id, fields, columns))
        for name in fields:
            first, spelling = spelled.setdefault(name.casefold(), (index, name))
            if spelling != name:
                # The request's events become the columns of one read: these would be one.
                raise HTTPException(
                    422,
                    f"event {first} has the key {spelling!r} and event {index} the key "
                    f"{name!r}, which differ only in case; keys are case-insensitive in the "
                    "store, so spell them one way (or send the events in separate requests).",
                )
    return lines


def _as_line(index: int, event_id: str, fields: dict[str, Any], columns: int) -> tuple[str, str]:
    """``(event_id, one line of JSON)``: the event as the client sent it, fields in order.

    ``columns`` is the most keys an event may have (``[capture] max_columns``).
    """
    try:
        check_column_names(list(fields), f"event {index}", limit=columns)
    except IngestError as error:
        raise HTTPException(422, str(error)) from error
    if any("\x00" in name for name in fields):
        raise HTTPException(
            422, f"event {index} has a key holding a NUL character (\\u0000); rename it."
        )
    try:
        line = json.dumps(fields, ensure_ascii=False, allow_nan=False)
    except ValueError as error:
        # Python's JSON reader lets NaN and Infinity through; JSON (and the store) does not.
        raise HTTPException(
            422, f"event {index} holds NaN or Infinity, which JSON does not allow: send null."
        ) from error
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as error:
        # JSON's \\uD800-\\uDFFF escapes can spell half of a character; no text holds one.
        raise HTTPException(
            422,
            f"event {index} holds {line[error.start : error.end]!a}, half of a UTF-16 "
            "surrogate pair, which is not text. Send whole characters.",
        ) from error
    return event_id, line


# --- delivery B ------------------------------------------------------------------------


def _recommend_now(state: dict[str, Any], body: RecommendRequest) -> dict[str, Any]:
    from workbench.delivery import recommend_now

    answer = recommend_now(
        state["store"], body.user_id, context=body.context, k=body.k, model=body.model
    )
    items = [
        {"item_id": str(row.item_id), "rank": int(row.rank), "score": float(row.score)}
        for row in answer.items.itertuples()
    ]
    if answer.source == "popularity":
        # A user the model does not know gets what GET /recommendations gives them when
        # the served lists are this model's: trending, without what they met lately.
        exclude = (body.context or {}).get("exclude") or ()
        trending = state["snapshot"].fallback(
            body.user_id, body.k, model=answer.model, exclude=exclude
        )
        items = trending if trending is not None else items
    return {
        "user_id": answer.user_id,
        "items": items,
        "source": answer.source,
        "fallback": answer.source == "popularity",
        "model": answer.model,
        "reason": answer.reason,
        "computed_at": None,
        "policy": None,
        "delivery_ids": [],
    }


_policy_lock = threading.Lock()


def _draw_slate(state: dict[str, Any], body: RecommendRequest):
    """A slate from a policy over the model's scores (policies are kept per model version)."""
    from workbench.delivery import EpsilonGreedyPolicy, SoftmaxPolicy, cached_model

    fitted, version = cached_model(state["store"], body.model)
    knob = body.epsilon if body.policy == "epsilon-greedy" else body.temperature
    key = (version.ref, body.policy, knob)
    with _policy_lock:
        entry = state["policies"].get(key)
        if entry is None or entry[0] is not fitted:
            fallback = state["snapshot"].popular_frame()
            if body.policy == "epsilon-greedy":
                policy = EpsilonGreedyPolicy(fitted, epsilon=knob, fallback=fallback, model=version)
            else:
                policy = SoftmaxPolicy(fitted, temperature=knob, fallback=fallback, model=version)
            entry = state["policies"][key] = (fitted, policy, threading.Lock())
    _, policy, lock = entry
    # A policy's random generator and caches are not safe to share between threads.
    with lock:
        return policy.slate(body.user_id, k=body.k, context=body.context)


def _slate_answer(slate, delivery_ids: list[str]) -> dict[str, Any]:
    return {
        "user_id": slate.user_id,
        "items": [
            {"item_id": item, "rank": position, "score": None, "propensity": propensity}
            for item, position, propensity in zip(
                slate.items, slate.positions, slate.propensities, strict=True
            )
        ],
        "source": "model",
        "fallback": False,
        "model": slate.model,
        "reason": f"slate drawn by {slate.policy} ({slate.propensity_method} propensities)",
        "computed_at": None,
        "policy": slate.policy,
        "delivery_ids": delivery_ids,
    }


# --- errors ------------------------------------------------------------------------------


def _add_error_handlers(app: FastAPI) -> None:
    """Every error answers ``{"error": message, "detail": ...}`` with a fitting status."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        for problem in problems:
            if problem.get("type") == "json_invalid":
                reason = problem.get("ctx", {}).get("error", "malformed")
                return JSONResponse(
                    {"error": f"The body is not valid JSON ({reason}).", "detail": None},
                    status_code=400,
                )
        lines = [
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in problems
        ]
        return JSONResponse(
            {
                "error": "The request does not have the expected shape: "
                + "; ".join(lines[:10])
                + (f" (and {len(lines) - 10} more)" if len(lines) > 10 else ""),
                "detail": [
                    {"loc": [str(p) for p in problem["loc"]], "msg": problem["msg"]}
                    for problem in problems[:100]
                ],
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(error.detail), "detail": None},
            status_code=error.status_code,
            headers=error.headers,
        )

    @app.exception_handler(WorkbenchError)
    async def workbench_error(request: Request, error: WorkbenchError) -> JSONResponse:
        status, headers = _status_of(error)
        return JSONResponse(
            {"error": str(error), "detail": None}, status_code=status, headers=headers
        )


def _status_of(error: WorkbenchError) -> tuple[int, dict[str, str] | None]:
    if isinstance(error, QueueFull | StoreError):
        # Busy or failing store: nothing of the request was committed; retrying is safe.
        return 503, {"Retry-After": "1"}
    if isinstance(error, ArtifactTampered):
        # The served model's file is not what was registered: the server's fault, not the
        # client's, said in the same JSON shape as every other error.
        return 500, None
    if isinstance(error, ModelNotFound):
        return 404, None
    if isinstance(error, IngestError | InvalidArgument):
        return 422, None
    return 400, None
