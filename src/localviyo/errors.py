"""Klaviyo's error vocabulary.

Each class carries the `status`, `code` and `title` of one kind of Klaviyo error; an instance adds the
`detail` and where the problem is (`pointer` into the body or query `parameter`). Observed bodies differ in
whether they carry `links` and `meta`, so each class says which it renders; jsonapi.error_document() turns
them into the wire shape. Strings that Klaviyo was seen to send are quoted exactly; the others follow
Django REST Framework, whose vocabulary Klaviyo's errors use, and are listed in the docs' differences.
"""

from __future__ import annotations

from typing import Any, ClassVar


class APIError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid"
    title: ClassVar[str] = "Invalid input."
    # None: the key is absent from the error object.
    links: ClassVar[dict[str, Any] | None] = None
    meta: ClassVar[dict[str, Any] | None] = None

    def __init__(
        self,
        detail: str,
        *,
        pointer: str | None = None,
        parameter: str | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if title is not None:
            self.title = title  # type: ignore[misc]  # DRF formats some titles per request
        self.pointer = pointer
        self.parameter = parameter
        self.headers: dict[str, str] = {}

    def error_links(self) -> dict[str, Any] | None:
        return self.links

    def error_meta(self) -> dict[str, Any] | None:
        return self.meta


class Invalid(APIError):
    """A document-level problem: observed with `meta: {}` and no `links`."""

    meta = {}


class InvalidAttribute(APIError):
    """A bad attribute value: observed (email, phone) with both `links: {}` and `meta: {}`."""

    links = {}
    meta = {}


class Errors(Exception):
    """Several problems found in one request, rendered as several error objects."""

    def __init__(self, errors: list[APIError]) -> None:
        super().__init__(f"{len(errors)} errors")
        self.errors = errors
        self.status = errors[0].status


class ParseError(APIError):
    code, title = "parse_error", "Malformed request."


class NotAuthenticated(APIError):
    """No key at all (observed)."""

    status, code, title = 401, "not_authenticated", "Authentication credentials were not provided."


class AuthenticationFailed(APIError):
    """A key we do not know, or a revoked one (observed)."""

    status, code, title = 401, "authentication_failed", "Incorrect authentication credentials."


class PermissionDenied(APIError):
    status, code = 403, "permission_denied"
    title = "You do not have permission to perform this action."


class NotFound(APIError):
    status, code, title = 404, "not_found", "Not found."


def profile_not_found(profile_id: str) -> NotFound:
    return NotFound(f"A profile with id {profile_id} does not exist.", pointer="/data/")


class MethodNotAllowed(APIError):
    status, code = 405, "method_not_allowed"

    def __init__(self, method: str, allow: list[str]) -> None:
        message = f'Method "{method}" not allowed.'
        super().__init__(message, pointer="/data/", title=message)
        self.headers["Allow"] = ", ".join(allow)


class Conflict(APIError):
    status, code, title = 409, "conflict", "Conflict."
    links = {}
    meta = {}


class DuplicateProfile(APIError):
    status, code, title = 409, "duplicate_profile", "Conflict."
    links = {}

    def __init__(self, duplicate_profile_id: str) -> None:
        super().__init__("A profile already exists with one of these identifiers.", pointer="/data/attributes")
        self.duplicate_profile_id = duplicate_profile_id

    def error_meta(self) -> dict[str, Any]:
        return {"duplicate_profile_id": self.duplicate_profile_id}


class PayloadTooLarge(APIError):
    status, code, title = 413, "payload_too_large", "Payload too large."


class UnsupportedMediaType(APIError):
    status, code = 415, "unsupported_media_type"

    def __init__(self, media_type: str) -> None:
        message = f'Unsupported media type "{media_type}" in request.'
        super().__init__(message, pointer="/data/", title=message)


class Throttled(APIError):
    status, code, title = 429, "throttled", "Request was throttled."
    links = {"type": "https://developers.klaviyo.com/en/docs/rate_limits_and_error_handling#rate-limits"}

    def __init__(self, wait: int) -> None:
        unit = "second" if wait == 1 else "seconds"
        super().__init__(f"Request was throttled. Expected available in {wait} {unit}.", pointer="/data")
        self.wait = wait
        self.headers["Retry-After"] = str(wait)

    def error_meta(self) -> dict[str, Any]:
        return {}


class ServerError(APIError):
    status, code, title = 500, "error", "A server error occurred."
