"""The browser UI: pages over the engine's public API, actions as background tasks.

Every page reads through one :class:`~accord.Project` call; every action is one engine call
(``sync``, ``couple``, ``uncouple``, ``match``, ``retry``, ``restore``, ``delete``,
``resolve``) run as a :class:`~accord.web.tasks.Task`, optionally inside a dry run (the
*Preview* buttons), and shown with the result object the call returns — the one the CLI
renders. No rule of the integration lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from accord.engine.browse import parse_side
from accord.engine.project import Project
from accord.errors import AccordError, BusyError, UsageError
from accord.model import Direction
from accord.web import views
from accord.web.security import TokenGuard, csrf_token, form_of
from accord.web.tasks import Task, Tasks

HERE = Path(__file__).parent
PAGE = 25


def create_app(config: Path, token: str) -> Starlette:
    """The ASGI app for the project configured in ``config``, guarded by ``token``."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(views.GLOBALS)
    tasks = Tasks(config)
    csrf = csrf_token(token)

    @contextmanager
    def project() -> Iterator[Project]:
        with Project.load(config) as p:
            yield p

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        context.setdefault("tasks", [t for t in tasks.all() if t.running])
        return templates.TemplateResponse(
            request, name, {"csrf": csrf, **context}, status_code=status
        )

    def failed(request: Request, exc: AccordError) -> Response:
        status = 409 if isinstance(exc, BusyError) else 400
        if request.headers.get("hx-request"):
            return page(request, "_message.html", status, message=str(exc), error=True)
        return page(request, "message.html", status, message=str(exc))

    def guarded(
        handler: Callable[[Request], Response],
    ) -> Callable[[Request], Response]:
        def run(request: Request) -> Response:
            try:
                return handler(request)
            except AccordError as exc:
                return failed(request, exc)

        return run

    # -- pages -----------------------------------------------------------------------------
    @guarded
    def mappings(request: Request) -> Response:
        with project() as p:
            overview = p.overview()
            recent = {m.name: p.jobs(limit=12, mapping=m.name) for m in overview}
            fields = {m.name: views.match_fields(p.config.mapping(m.name)) for m in overview}
        return page(request, "mappings.html", overview=overview, recent=recent, fields=fields)

    @guarded
    def mapping_card(request: Request) -> Response:
        with project() as p:
            mapping = p.config.mapping(request.path_params["name"])
        return page(request, "mapping.html", mapping=mapping)

    @guarded
    def records(request: Request) -> Response:
        q = request.query_params
        side = parse_side(request.path_params["side"])
        coupled = {"yes": True, "no": False}.get(q.get("coupled", ""))
        offset = views.int_param(q.get("offset", "0"), "offset")
        with project() as p:
            mapping = p.config.mapping(request.path_params["name"])
            result = p.records(
                mapping.name,
                side,
                search=q.get("q", ""),
                coupled=coupled,
                offset=offset,
                limit=PAGE,
            )
        name = (
            "_records_table.html"
            if request.headers.get("hx-target") == "records"
            else ("records.html")
        )
        return page(request, name, mapping=mapping, page=result, side=side)

    @guarded
    def counterparts(request: Request) -> Response:
        """Uncoupled records of the other side, for Set Up Coupling's search."""
        q = request.query_params
        side = parse_side(q.get("side", "integration"))
        with project() as p:
            mapping = p.config.mapping(request.path_params["name"])
            found = p.records(mapping.name, side, search=q.get("q", ""), coupled=False, limit=10)
        return page(request, "_counterparts.html", mapping=mapping, page=found)

    @guarded
    def history(request: Request) -> Response:
        side = parse_side(request.path_params["side"])
        with project() as p:
            mapping = p.config.mapping(request.path_params["name"])
            found = p.history(mapping.name, side, request.path_params["key"])
        return page(request, "history.html", mapping=mapping, history=found)

    @guarded
    def jobs(request: Request) -> Response:
        name = request.query_params.get("mapping") or None
        with project() as p:
            listed = p.jobs(limit=100, mapping=name)
        return page(request, "jobs.html", jobs=listed, mapping=name)

    @guarded
    def job(request: Request) -> Response:
        with project() as p:
            found = p.job(request.path_params["id"])
        return page(request, "job.html", job=found)

    @guarded
    def errors(request: Request) -> Response:
        with project() as p:
            problems = p.errors(limit=500)
            directions = {m.name: m.direction for m in p.config.mappings}
        return page(request, "errors.html", problems=problems, directions=directions)

    @guarded
    def conflicts(request: Request) -> Response:
        with project() as p:
            found = p.conflicts()
        return page(request, "conflicts.html", conflicts=found)

    @guarded
    def review(request: Request) -> Response:
        with project() as p:
            lines = p.review()
        return page(request, "review.html", lines=lines)

    def task_list(request: Request) -> Response:
        return page(request, "_tasks.html", tasks=[t for t in tasks.all() if t.running])

    def task(request: Request) -> Response:
        found = tasks.get(request.path_params["id"])
        if found is None:
            return page(
                request, "message.html", 404, message="no such task (was the server restarted?)"
            )
        if request.headers.get("hx-request"):
            return page(request, "_task.html", task=found)
        return page(request, "task.html", task=found)

    # -- actions ---------------------------------------------------------------------------
    async def act(request: Request) -> Response:
        form = await form_of(request)
        action = request.path_params["action"]
        try:
            title, names, call = actions(action, form)
            started = tasks.start(title, names, call, preview=bool(one(form, "preview")))
        except AccordError as exc:
            return failed(request, exc)
        response = page(request, "_task.html", 202, task=started)
        response.headers["HX-Trigger"] = "task-started"
        return response

    def actions(
        action: str, form: dict[str, list[str]]
    ) -> tuple[str, list[str], Callable[[Project, Task], Any]]:
        mapping = one(form, "mapping")
        keys = form.get("key", [])
        if action == "sync":
            return (
                "Synchronize Modified Records",
                [mapping],
                (lambda p, t: p.sync([mapping], progress=t)),
            )
        if action == "full-sync":
            names = form.get("mapping", [])
            title = "Run Full Synchronization"
            return (
                title,
                names or all_mappings(),
                (lambda p, t: p.sync(names or None, full=True, progress=t)),
            )
        if action == "sync-records":
            direction = views.direction(one(form, "direction")) if one(form, "direction") else None
            need(keys, "select the records to synchronize")
            return (
                "Synchronize Now",
                [mapping],
                (lambda p, t: p.sync([mapping], records=keys, direction=direction, progress=t)),
            )
        if action == "couple":
            local, integration = one(form, "local"), one(form, "integration") or None
            create = bool(one(form, "create_new"))
            sync_to = views.direction(one(form, "sync")) if one(form, "sync") else None
            if not local:
                raise UsageError("choose the local record to couple")
            if not create and not integration:
                raise UsageError("choose the counterpart, or create a new one")
            return (
                "Set Up Coupling",
                [mapping],
                (
                    lambda p, t: p.couple(
                        mapping,
                        local,
                        None if create else integration,
                        create_new=create,
                        sync=sync_to,
                        progress=t,
                    )
                ),
            )
        if action == "uncouple":
            need(keys, "select the records to uncouple")
            return "Uncouple", [mapping], lambda p, t: p.uncouple(mapping, keys)
        if action == "delete-couplings":
            return "Delete Couplings", [mapping], lambda p, t: p.uncouple(mapping, all=True)
        if action == "match":
            on = form.get("on", [])
            case = form.get("case_sensitive", [])
            create_new = bool(one(form, "create_new"))
            sync_after = bool(one(form, "sync_after"))
            return (
                "Match-Based Coupling",
                [mapping],
                (
                    lambda p, t: p.match(
                        mapping,
                        on=on or None,
                        case_sensitive=case,
                        create_new=create_new,
                        sync=sync_after,
                        progress=t,
                    )
                ),
            )
        if action == "retry":
            if one(form, "all"):
                return "Retry All", all_mappings(), lambda p, t: p.retry(all=True)
            need(keys, "select the records to retry")
            return "Retry", [mapping], lambda p, t: p.retry(mapping, keys)
        if action == "restore":
            need(keys, "select the records to restore")
            return "Restore", [mapping], lambda p, t: p.restore(mapping, keys)
        if action == "delete":
            need(keys, "select the records to delete")
            return "Delete", [mapping], lambda p, t: p.delete(mapping, keys)
        if action == "resolve":
            winner = {"send": Direction.TO_INTEGRATION, "get": Direction.FROM_INTEGRATION}.get(
                one(form, "winner")
            )
            if winner is None:
                raise UsageError("say which side wins: send (local) or get (integration)")
            need(keys, "select the conflicts to resolve")
            return (
                "Resolve Conflict",
                [mapping],
                (lambda p, t: p.resolve(mapping, keys, winner, progress=t)),
            )
        raise UsageError(f"no action {action!r}")

    def all_mappings() -> list[str]:
        with project() as p:
            return [m.name for m in p.config.mappings]

    routes = [
        Route("/", mappings),
        Route("/mappings/{name}", mapping_card),
        Route("/mappings/{name}/records/{side}", records),
        Route("/mappings/{name}/counterparts", counterparts),
        Route("/mappings/{name}/records/{side}/{key:path}/history", history),
        Route("/jobs", jobs),
        Route("/jobs/{id}", job),
        Route("/errors", errors),
        Route("/conflicts", conflicts),
        Route("/review", review),
        Route("/tasks", task_list),
        Route("/tasks/{id}", task),
        Route("/actions/{action}", act, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.tasks = tasks
    app.add_middleware(TokenGuard, token=token)
    return app


def one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name)
    return values[0].strip() if values else ""


def need(keys: list[str], message: str) -> None:
    if not keys:
        raise UsageError(message)


__all__ = ["create_app"]
