"""Dataverse's error answer: ``{"error":{"code":"0x…","message":"…"}}`` with its codes."""

from __future__ import annotations

__all__ = ["DataverseError", "bad_query", "does_not_exist", "not_found_segment"]

QUERY_ERROR = "0x80060888"
"""A query option Dataverse cannot parse or a property it does not know."""
SEGMENT_NOT_FOUND = "0x8006088a"
DOES_NOT_EXIST = "0x80040217"
DUPLICATE = "0x80040237"
VERSION_MISMATCH = "0x80060882"
PAYLOAD_ERROR = "0x80048d19"
VALIDATION = "0x80044331"
BAD_REQUEST = "0x80048d0b"
UNEXPECTED = "0x80040216"
PRIVILEGE = "0x80040220"
SERVICE_PROTECTION_REQUESTS = "0x80072322"
SERVICE_PROTECTION_CONCURRENCY = "0x80072326"


class DataverseError(Exception):
    """An answer other than success: HTTP status, Dataverse error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": self.message}}


def bad_query(message: str) -> DataverseError:
    return DataverseError(400, QUERY_ERROR, message)


def not_found_segment(segment: str) -> DataverseError:
    return DataverseError(
        404, SEGMENT_NOT_FOUND, f"Resource not found for the segment '{segment}'."
    )


def does_not_exist(logical_name: str, record_id: str) -> DataverseError:
    return DataverseError(
        404, DOES_NOT_EXIST, f"{logical_name} With Id = {record_id} Does Not Exist"
    )
