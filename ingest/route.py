"""A route that documents itself: what aiohttp serves and what OpenAPI says of it, the error
answers it may give, and the helpers the route table (`openapi.py`) is written with."""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from chargehook.schemas.contract import Document, ref

ERRORS = {
    400: "Bad input: the message names each bad field by its path",
    401: "Missing or unknown token",
    403: "A token of the wrong kind for this route",
    404: "No such session or subscription",
    405: "The CPO's registration state does not allow this call (OCPI status 2000)",
    409: "The Idempotency-Key was already used for a different session event; or a party "
    "is another CPO's, or the CPO is registered already",
    413: "Body over 1 MiB",
    415: "Body is not application/json, or is compressed (Content-Encoding)",
    429: "The provider is over its rate limit; retry after `Retry-After` seconds",
    500: "A fault on our side",
    503: "Broker or database unavailable; retry after `Retry-After` seconds",
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")
SCHEMAS = "#/components/schemas/"
# what a route's `bearer` asks for: the document's security scheme "bearer"
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "A provider's token (`chargehook provider add NAME`) for POST /v1/sessions; "
    "the admin token (CHARGEHOOK_ADMIN_TOKEN) for every other call that needs one",
}


def content(schema: Document, media_type: str = "application/json") -> Document:
    return {media_type: {"schema": schema}}


@dataclass(frozen=True)
class Answer:
    """A response written out, success or not: its description, body schema (None: no body),
    status and media type."""

    description: str
    schema: Document | None
    status: int = 200
    media_type: str = "application/json"

    def response(self) -> Document:
        if self.schema is None:
            return {"description": self.description}
        return {"description": self.description, "content": content(self.schema, self.media_type)}


# aiohttp refuses a request it cannot parse before the app sees it, so not in the error shape;
# any route can get it, and it is the only client error a probe can get
UNPARSABLE = Answer(
    "A request aiohttp cannot parse (a header line over 8190 bytes, a bad Content-Length or "
    "Transfer-Encoding), refused in plain text before the app sees it",
    {"type": "string"},
    400,
    media_type="text/plain",
)


@dataclass(frozen=True)
class Route:
    """One route: what aiohttp serves and what OpenAPI says of it.

    `operation_id` names the method a generated client calls; it is written out, not derived
    from the path, so that moving a path never renames a client's method."""

    method: str
    path: str
    operation_id: str
    handler: Handler
    summary: str
    answer: Answer
    errors: tuple[int, ...] = ()  # answered in the error shape, described by ERRORS
    plain_errors: tuple[Answer, ...] = ()  # answered by aiohttp itself, not in the error shape
    parameters: tuple[Document, ...] = ()  # query and header ones; path ones come from `path`
    body: Document | None = None  # the schema of a required JSON request body
    bearer: bool = False  # needs a token in `Authorization: Bearer`

    def definition(self) -> web.RouteDef:
        return web.route(self.method, self.path, self.handler)

    def path_parameters(self) -> list[Document]:
        return [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in PLACEHOLDER.findall(self.path)
        ]

    def error_codes(self) -> list[int]:
        """The route's own errors, and those any body or query brings: a body can be bad,
        too large or of another type; a query can be bad."""
        codes = set(self.errors)
        if self.body is not None:
            codes |= {400, 413, 415}
        if any(p.get("in") == "query" for p in self.parameters):
            codes.add(400)
        return sorted(codes)

    def responses(self) -> Document:
        """The success answer first, then every error by its status."""
        shaped = {
            str(code): {"description": ERRORS[code], "content": content(ref("ErrorBody"))}
            for code in self.error_codes()
        }
        plain = {str(answer.status): answer.response() for answer in self.plain_errors}
        if twice := shaped.keys() & plain.keys():
            raise ValueError(f"{self.method} {self.path} documents {sorted(twice)} twice")
        errors = dict(sorted({**shaped, **plain}.items()))
        return {str(self.answer.status): self.answer.response(), **errors}

    def operation(self) -> Document:
        operation: Document = {
            "operationId": self.operation_id,
            "summary": self.summary,
            "responses": self.responses(),
        }
        if parameters := [*self.path_parameters(), *self.parameters]:
            operation["parameters"] = parameters
        if self.body is not None:
            operation["requestBody"] = {"required": True, "content": content(self.body)}
        # explicit either way: the document's default (a token) must not fall on a probe
        operation["security"] = [{"bearer": []}] if self.bearer else []
        return operation


def paths(table: Iterable[Route]) -> Document:
    """The document's `paths`; a method of a path, or an operationId, used twice is refused."""
    found: Document = {}
    operation_ids: set[str] = set()
    for route in table:
        item = found.setdefault(route.path, {})
        method = route.method.lower()
        if method in item:
            raise ValueError(f"{route.method} {route.path} is in the route table twice")
        if route.operation_id in operation_ids:
            raise ValueError(f"operationId {route.operation_id} is in the route table twice")
        operation_ids.add(route.operation_id)
        item[method] = route.operation()
    return found


def array(name: str, **limits: int) -> Document:
    return {"type": "array", "items": ref(name), **limits}


def referenced(schemas: Document, paths: Document) -> Document:
    """The schemas the paths refer to, directly or through one another: one the API never
    sends nor takes would be a class a generated client has no use for."""
    names: set[str] = set()
    pending = list(refs(paths))
    while pending:
        name = pending.pop()
        if name not in names:
            names.add(name)
            pending.extend(refs(schemas[name]))
    return {name: schema for name, schema in schemas.items() if name in names}


def refs(value: object) -> Iterator[str]:
    """The names of the schemas `value` refers to, at any depth."""
    if isinstance(value, dict):
        if isinstance(target := value.get("$ref"), str):
            yield target.removeprefix(SCHEMAS)
        for item in value.values():
            yield from refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs(item)
