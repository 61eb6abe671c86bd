"""The one exception tree of opencdm, and the CDM error-code table it maps to.

::

    CdmError                 Cdm.0000, HTTP 500, not retryable
    ├── RequestError         400: the client asked for something wrong
    │   ├── InvalidInput     bad JSON, bad types, bad config values, unknown connector (Cdm.0014 & co)
    │   ├── NotFound         404: cluster / link / job / submission absent in this project
    │   ├── Conflict         name taken, job already running, link in use
    │   ├── SecretUnusable   a stored secret that does not decrypt here (enter it again)
    │   ├── TooLarge         413: a request body over the server's limit
    │   └── Throttled        429: too many failed logins or hashes at once (carries Retry-After)
    ├── AuthError            401: no or bad token, bad AK/SK signature, stale X-Sdk-Date
    │   └── Forbidden        403: authenticated, but not for this project
    ├── LinkError            talking to a data store failed
    │   ├── LinkUnreachable  retryable
    │   ├── LinkRejected     credentials, permissions, missing table (terminal)
    │   └── MissingDriver    an optional Python driver is not installed
    └── TransferError        a run failed
        ├── ExtractFailed / LoadFailed
        ├── Cancelled        the run was stopped
        └── WorkerLost       retryable: the process running a partition died

Every class carries its CDM ``code``, HTTP ``status`` and ``retryable`` flag as class
attributes; an instance may override the code. Exceptions pickle with their message and code,
so a failure raised in a worker process comes back to the server with its type intact.
Rendering to HTTP lives in ``opencdm.api.errors`` and nowhere else.
"""

from __future__ import annotations

from typing import ClassVar

#: CDM error codes and their documented English messages (spec §8, a subset we raise).
CDM_CODES: dict[str, str] = {
    "Cdm.0000": "System error.",
    "Cdm.0001": "The resource does not exist or is invalid.",
    "Cdm.0004": "Invalid parameter type.",
    "Cdm.0009": "%s is not an integer or is beyond the value range [0, 2147483647].",
    "Cdm.0011": "The parameter value exceeds the value range.",
    "Cdm.0012": "JDBC driver is not found.",
    "Cdm.0014": "Invalid parameter.",
    "Cdm.0018": "The content of jobs or links is invalid.",
    "Cdm.0021": "Failed to connect to server %s.",
    "Cdm.0032": "You do not have required permissions. Check your permissions on IAM.",
    "Cdm.0036": "Internal error.",
    "Cdm.0037": "Failed to submit the job.",
    "Cdm.0052": "Job %s is running.",
    "Cdm.0053": "Job %s is not running.",
    "Cdm.0055": "Unsupported job type.",
    "Cdm.0061": "Connector %s does not support the specified direction. The job cannot be submitted.",
    "Cdm.0063": "An error occurred when creating the table. Cause: %s.",
    "Cdm.0085": "%s exceeds the maximum value %s.",
    "Cdm.0089": "The configuration item [%s] does not exist.",
    "Cdm.0100": "Job [%s] does not exist.",
    "Cdm.0101": "Link [%s] does not exist.",
    "Cdm.0102": "Connector [%s] does not exist.",
    "Cdm.0104": "The job name already exists.",
    "Cdm.0201": "Failed to obtain the instance.",
    "Cdm.0232": "Failed to write data. Cause: %s.",
    "Cdm.0233": "Data extraction exception. Cause: %s.",
    "Cdm.0234": "Data loading exception. Cause: %s.",
    "Cdm.0238": "%s cannot be left blank.",
    "Cdm.0315": "Link name %s already exists.",
    "Cdm.0319": "Failed to update the job that does not exist.",
    "Cdm.0321": "Link %s has been used.",
    "Cdm.0900": "Table [%s] unavailable.",
    "Cdm.0901": "Failed to connect to the database server. Cause: %s.",
    "Cdm.0902": "Failed to execute the SQL statement. Cause: %s.",
    "Cdm.0921": "Unsupported type %s.",
    "Cdm.0931": "The value of the schema field [%s] does not match that of the field [%s] in the result set.",
    "Cdm.0936": "The number of dirty data records reaches the upper limit.",
    "Cdm.0950": "Failed to connect the authentication information to the database.",
    "Cdm.0951": "The destination kept refusing requests as too many (throttled) after every retry.",
    "Cdm.0952": "The topic or stream does not exist.",
    "APIGW.0301": "Incorrect IAM authentication information.",
    "APIGW.0303": "Incorrect IAM authentication information: signature expired.",
    "APIGW.0308": "The throttling threshold has been reached.",
}


class CdmError(Exception):
    """Base of every error opencdm raises on purpose."""

    code: ClassVar[str] = "Cdm.0000"
    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or CDM_CODES.get(code or self.code, "System error."))
        self.message = str(self.args[0])
        if code is not None:
            self.code = code  # type: ignore[misc]  # instance override of the class default

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.code))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[CdmError], message: str, code: str) -> CdmError:
    return cls(message, code=code)


class RequestError(CdmError):
    code = "Cdm.0014"
    status = 400


class InvalidInput(RequestError):
    code = "Cdm.0014"


class NotFound(RequestError):
    code = "Cdm.0001"
    status = 404


class Conflict(RequestError):
    code = "Cdm.0014"


class TooLarge(RequestError):
    code = "Cdm.0011"
    status = 413


class Throttled(RequestError):
    """The caller must wait ``retry_after`` seconds (sent as ``Retry-After``)."""

    code = "APIGW.0308"
    status = 429

    def __init__(self, message: str = "", *, code: str | None = None, retry_after: float = 1) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, int(retry_after + 0.999))

    def __reduce__(self):
        return (_rebuild_throttled, (self.message, self.code, self.retry_after))


def _rebuild_throttled(message: str, code: str, retry_after: int) -> Throttled:
    return Throttled(message, code=code, retry_after=retry_after)


class SecretUnusable(RequestError):
    """A stored secret does not decrypt here: sealed for another place, or the key file changed."""


class AuthError(CdmError):
    code = "APIGW.0301"
    status = 401


class Forbidden(AuthError):
    code = "Cdm.0032"
    status = 403


class LinkError(CdmError):
    code = "Cdm.0901"
    status = 400


class LinkUnreachable(LinkError):
    retryable = True


class LinkRejected(LinkError):
    code = "Cdm.0950"


class MissingDriver(LinkError):
    code = "Cdm.0012"


class TransferError(CdmError):
    code = "Cdm.0037"
    status = 500


class ExtractFailed(TransferError):
    code = "Cdm.0233"


class LoadFailed(TransferError):
    code = "Cdm.0234"


class Cancelled(TransferError):
    code = "Cdm.0053"


class WorkerLost(TransferError):
    code = "Cdm.0036"
    retryable = True
