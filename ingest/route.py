"""A route that documents itself: what aiohttp serves and what OpenAPI says of it, the error
answers it may give, and the helpers the route table (`openapi.py`) is written with.

A route of the OCPI face (`ocpi=True`) answers everything, errors included, in the OCPI envelope
(`OcpiResponse`, transport_and_format.asciidoc) and takes the CPO's credentials token
(`ocpiToken`) instead of a bearer token."""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from aiohttp import web
from aiohttp.typedefs import Handler

from chargehook.schemas.contract import Document, ref

ERRORS = {
    400: "Bad input: the message names each bad field by its path",
    401: "Missing or unknown token",
    403: "A token of the wrong kind for this route",
    404: "No such session or subscription",
    409: "The Idempotency-Key was already used for a different session event",
    413: "Body over 1 MiB",
    415: "Body is not application/json, or is compressed (Content-Encoding)",
    429: "The provider is over its rate limit; retry after `Retry-After` seconds",
    500: "A fault on our side",
    503: "Broker or database unavailable; retry after `Retry-After` seconds",
}
# on an OCPI route, with the OCPI status_code each is answered with (status_codes.asciidoc)
OCPI_ERRORS = {
    400: "Bad input (status_code 2001): the message names the bad field by its path; on "
    "registering, the CPO's API could not be used (3001), has no 2.2.1 (3002) or unusable "
    "version details (3003)",
    401: "Missing or unknown credentials token, or one of another kind (status_code 2000)",
    403: "The party is not one of the calling CPO's (status_code 2000)",
    404: "No such object, or of another CPO's party, or no route (status_code 2000)",
    405: "The CPO's registration state does not allow it: POST once registered, PUT or DELETE "
    "before (status_code 2000)",
    409: "Another body is already stored under this id: CDRs are immutable (status_code 2000)",
    413: "Body over 1 MiB (status_code 2001)",
    415: "Body is not application/json, or is compressed (status_code 2001)",
    429: "The CPO is over its rate limit (status_code 2000); retry after `Retry-After` seconds",
    500: "A fault on our side (status_code 3000)",
    503: "Broker or database unavailable (status_code 3000); retry after `Retry-After` seconds",
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")
SCHEMAS = "#/components/schemas/"
ERROR_BODY = ref("ErrorBody")
# what a route's `bearer` asks for: the document's security scheme "bearer"
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "A provider's token (`chargehook provider add NAME`) for POST /v1/sessions; "
    "the admin token (CHARGEHOOK_ADMIN_TOKEN) for every other call that needs one",
}
# what an OCPI route asks for: the document's security scheme "ocpiToken"
OCPI_TOKEN = {
    "type": "apiKey",
    "in": "header",
    "name": "Authorization",
    "description": "Token <base64 of the credentials token>; the raw token is accepted too",
}
OCPI_ENVELOPE = ref("OcpiResponse")


def content(schema: Document, media_type: str = "application/json") -> Document:
    return {media_type: {"schema": schema}}


def enveloped(data: Document | None) -> Document:
    """The OCPI envelope whose `data` is of this schema, or null when None."""
    data_schema = {"type": "null"} if data is None else data
    return {"allOf": [OCPI_ENVELOPE, {"properties": {"data": data_schema}}]}


@dataclass(frozen=True)
class Answer:
    """A response written out, success or not: its description, body schema (None: no body),
    status and media type."""

    description: str
    schema: Document | None
    status: int = 200
    media_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()  # (name, description) of each header it sends

    def response(self) -> Document:
        found: Document = {"description": self.description}
        if self.schema is not None:
            found["content"] = content(self.schema, self.media_type)
        if self.headers:
            found["headers"] = {
                name: {"description": description, "schema": {"type": "string"}}
                for name, description in self.headers
            }
        return found

    def enveloped(self) -> "Answer":
        """This answer on an OCPI route: its schema becomes the envelope's `data`."""
        return replace(self, schema=enveloped(self.schema), media_type="application/json")


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
    ocpi: bool = False  # of the OCPI face: the envelope, `Authorization: Token`, OCPI_ERRORS
    also: tuple[Answer, ...] = ()  # other successes (a CDR already stored: 200 beside 201)
    path_schemas: tuple[tuple[str, Document], ...] = ()  # a path parameter's, when not any string
    error_notes: tuple[tuple[int, str], ...] = ()  # what an error means here, if not ERRORS'

    def __post_init__(self) -> None:
        if self.ocpi and self.bearer:
            raise ValueError(f"{self.method} {self.path}: an OCPI route takes no bearer token")

    def definition(self) -> web.RouteDef:
        return web.route(self.method, self.path, self.handler)

    def path_parameters(self) -> list[Document]:
        schemas = dict(self.path_schemas)
        return [
            {"name": name, "in": "path", "required": True,
             "schema": schemas.get(name, {"type": "string"})}
            for name in PLACEHOLDER.findall(self.path)
        ]  # fmt: skip

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
        """The successes first, then every error by its status."""
        descriptions, shape = (OCPI_ERRORS, OCPI_ENVELOPE) if self.ocpi else (ERRORS, ERROR_BODY)
        shaped = {
            str(code): {
                "description": dict(self.error_notes).get(code, descriptions[code]),
                "content": content(shape),
            }
            for code in self.error_codes()
        }
        plain = {str(answer.status): answer.response() for answer in self.plain_errors}
        successes = [self.answer, *self.also]
        if self.ocpi:
            successes = [answer.enveloped() for answer in successes]
        answered = {str(answer.status): answer.response() for answer in successes}
        if twice := (shaped.keys() & plain.keys()) | (answered.keys() & (shaped | plain).keys()):
            raise ValueError(f"{self.method} {self.path} documents {sorted(twice)} twice")
        if len(answered) < len(successes):
            raise ValueError(f"{self.method} {self.path} documents a success twice")
        return {**dict(sorted(answered.items())), **dict(sorted({**shaped, **plain}.items()))}

    def security(self) -> list[Document]:
        """Explicit either way: the document's default (a token) must not fall on a probe."""
        if self.ocpi:
            return [{"ocpiToken": []}]
        return [{"bearer": []}] if self.bearer else []

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
        operation["security"] = self.security()
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
