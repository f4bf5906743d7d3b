"""Business Central's error answer: ``{"error":{"code":"…","message":"…"}}``.

Codes follow BC's categories (``BadRequest_*``, ``Application_*``, ``Internal_*``,
``Request_*``); messages end with a ``CorrelationId`` as BC's do.
"""

from __future__ import annotations

import uuid

__all__ = ["BcError", "bad_request", "not_found", "record_not_found"]

BAD_REQUEST = "BadRequest"
NOT_FOUND = "BadRequest_NotFound"
INVALID_TOKEN = "BadRequest_InvalidToken"
"""A PATCH or DELETE without ``If-Match`` (the concurrency token)."""
METHOD_NOT_ALLOWED = "BadRequest_MethodNotAllowed"
RECORD_NOT_FOUND = "Internal_RecordNotFound"
SAME_KEY_EXISTS = "Internal_EntityWithSameKeyExists"
ENTITY_CHANGED = "Request_EntityChanged"
STRING_TOO_LONG = "Application_StringExceededLength"
INVALID_VALUE = "Application_InvalidValue"
TOO_MANY_REQUESTS = "Application_TooManyRequests"
FAILED_DEPENDENCY = "BadRequest_FailedDependency"
"""A ``$batch`` request not run: what it depends on failed, or its snapshot rolled back."""
UNEXPECTED = "Internal_ServerError"
PERMISSIONS = "Authorization_InsufficientPermissions"


class BcError(Exception):
    """An answer other than success: HTTP status, BC error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, object]:
        return {
            "error": {
                "code": self.code,
                "message": f"{self.message}  CorrelationId:  {uuid.uuid4()}.",
            }
        }


def bad_request(message: str) -> BcError:
    return BcError(400, BAD_REQUEST, message)


def not_found(what: str) -> BcError:
    return BcError(404, NOT_FOUND, f"{what} was not found.")


def record_not_found(caption: str, record_id: str) -> BcError:
    return BcError(
        404,
        RECORD_NOT_FOUND,
        f"The {caption} does not exist. Identification fields and values: Id='{record_id}'",
    )
