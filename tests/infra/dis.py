"""A DIS-protocol server written for the tests, checked against the official DIS SDKs.

Huawei Cloud DIS (Data Ingestion Service) has no local edition, so this module implements its data API
(``/v2/{project_id}/streams|records|cursors``, JSON bodies, base64 record data, ``DIS.4xxx`` error codes)
in-process: ``http.server`` in a background thread on 127.0.0.1, reachable by other processes over TCP.
``tests/infra/test_dis_server.py`` drives it with the official ``huaweicloud-sdk-python-dis`` 2.x client
and the generated ``huaweicloudsdkdis`` 3.x client, unchanged but for the endpoint. It is a stand-in,
not DIS: no retention trimming, no quotas, no app/checkpoint calls, and partition keys are hashed with
MD5 (DIS's own hash is undocumented).

Every request must be signed for a configured AK/SK and carry the configured project id. Two schemes:

* ``SDK-HMAC-SHA256 Access=…`` (huaweicloudsdkcore, the 3.x SDK, ``opencdm.signing.sign``), checked with
  ``opencdm.signing.verify_signature``;
* ``SDK-HMAC-SHA256|V11-HMAC-SHA256 Credential=AK/date/region/dis/sdk_request, …``: the 2.x SDK's own
  AWS-SigV4-like scheme (V11 = signing with a key derived from AK/SK, its default), checked here.

Fault injection: ``throttle_next(n)`` fails the next ``n`` records of PutRecords calls with ``DIS.4303``
inside a 200 answer. With ``OPENCDM_TEST_DIS_ENDPOINT`` (+ ``_AK``, ``_SK``, ``_PROJECT_ID``, ``_REGION``)
the ``dis_server`` fixture points at that real DIS instead; its helpers then go through the API, and
``throttle_next`` skips the test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx
import pytest

from opencdm import signing
from opencdm.errors import AuthError
from tests.infra.postgres import free_port

AK = "DISTESTAKEXAMPLE0001"
SK = "dis-test-secret-key-0001"
PROJECT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
REGION = "cn-north-4"

MAX_PUT_RECORDS = 500  # PutRecords: records per call
MAX_RECORD_BYTES = 1 << 20  # one record's data (decoded)
MAX_PUT_BYTES = 5 << 20  # one call's data + partition keys
MAX_GET_LIMIT = 10000  # GetRecords ``limit``; default 1000
CURSOR_TTL = 300.0  # partition cursors expire after 5 minutes
DATE_SKEW = 15 * 60
HASH_MAX = (1 << 63) - 1
THROTTLED = ("DIS.4303", "Exceeded traffic control limit.")
_V2_AUTH = re.compile(r"(SDK-HMAC-SHA256|V11-HMAC-SHA256) Credential=([^/\s]+)/(\d{8})/([^/\s]+)/([^/\s]+)"
                      r"/sdk_request, SignedHeaders=([a-z0-9;_.-]+), Signature=([0-9a-f]{64})")


class DisError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def shard_id(index: int) -> str:
    return f"shardId-{index:010d}"


def _partition_index(value: str | None, count: int) -> int:
    """``0`` or ``shardId-0000000000`` → 0."""
    m = re.fullmatch(r"(?:shardId-)?(\d{1,10})", str(value or ""))
    if not m:
        raise DisError(400, "DIS.4201", f"Invalid partition_id. [{value}]")
    if int(m.group(1)) >= count:
        raise DisError(400, "DIS.4302", f"Partition does not exist. [{value}]")
    return int(m.group(1))


def _hash_range(index: int, count: int) -> tuple[int, int]:
    step = (HASH_MAX + 1) // count
    return index * step, HASH_MAX if index == count - 1 else (index + 1) * step - 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- the 2.x SDK's own signature scheme ----------------------------------------------------------


def _v2_signature(alg: str, ak: str, sk: str, day: str, region: str, service: str, sdk_date: str, creq: str) -> str:
    """What ``dis_sdk_python``'s ``Signer.Sign`` / ``SignWithDerivationKey`` compute for a canonical request."""
    secret = sk
    if alg == "V11-HMAC-SHA256":  # HKDF-like derivation: extract(salt=AK, ikm=SK), expand(info + 0x01), hex
        prk = hmac.new(ak.encode(), sk.encode(), hashlib.sha256).digest()
        secret = hmac.new(prk, f"{day}/{region}/{service}".encode() + b"\x01", hashlib.sha256).hexdigest()
    key = ("SDK" + secret).encode()
    for part in (day, region, service, "sdk_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    scope = f"{day}/{region}/{service}/sdk_request"
    to_sign = f"{alg}\n{sdk_date}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _v2_canonical(method: str, raw_path: str, raw_query: str, values: dict[str, str], signed: list[str],
                  payload_hash: str) -> str:
    segments: list[str] = []
    for seg in unquote(raw_path).split("/"):
        if seg == "..":
            segments = segments[:-1]
        elif seg not in ("", "."):
            segments.append(quote(seg, safe="~"))
    uri = "/" + "/".join(segments) + "/" if segments else "/"
    query = "&".join(sorted(quote(k, safe="~") + (f"={quote(v, safe='~')}" if v != "" else "")
                            for k, v in parse_qsl(raw_query, keep_blank_values=True)))
    headers = "\n".join(sorted(f"{name}:{values[name].strip()}" for name in signed)) + "\n"
    return f"{method}\n{uri}\n{query}\n{headers}\n{';'.join(signed)}\n{payload_hash}"


# --- state and calls -------------------------------------------------------------------------------


@dataclass
class Record:
    seq: int
    key: str | None
    data: bytes
    ts: int


@dataclass
class Stream:
    name: str
    partitions: list[list[Record]]
    data_type: str = "BLOB"
    stream_type: str = "COMMON"
    retention: int = 24
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:20])
    created: int = field(default_factory=lambda: int(time.time() * 1000))


class DisServer:
    """The server's state, its calls, and the fixture's helpers (``dis_server``)."""

    def __init__(self, ak: str = AK, sk: str = SK, project_id: str = PROJECT_ID, region: str = REGION) -> None:
        self.ak, self.sk, self.project_id, self.region = ak, sk, project_id, region
        self.credentials = {ak: sk}
        self.streams: dict[str, Stream] = {}
        self.requests = 0
        self.calls: Counter[str] = Counter()  # "PutRecords" → count, for assertions on retries
        self.cursor_ttl = CURSOR_TTL
        self._throttle = 0
        self._lock = threading.RLock()
        self._http: ThreadingHTTPServer | None = None
        self.port = 0

    # -- fixture helpers --

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def link_inputs(self) -> dict[str, str]:
        return {"linkConfig.region": self.region, "linkConfig.endpoint": self.url, "linkConfig.ak": self.ak,
                "linkConfig.sk": self.sk, "linkConfig.projectId": self.project_id}

    def create_stream(self, name: str, partitions: int = 1, data_type: str = "BLOB") -> None:
        with self._lock:
            if name in self.streams:
                raise ValueError(f"stream {name} exists")
            self.streams[name] = Stream(name, [[] for _ in range(partitions)], data_type)

    def delete_stream(self, name: str) -> None:
        with self._lock:
            self.streams.pop(name, None)

    def put(self, name: str, datas: list[bytes], partition: int | None = None) -> list[tuple[str, str]]:
        """Store records directly (round robin over partitions unless ``partition``); ``(partition_id, seq)``."""
        with self._lock:
            stream, out = self.streams[name], []
            for n, data in enumerate(datas):
                index = partition if partition is not None else n % len(stream.partitions)
                out.append(self._append(stream, index, None, bytes(data)))
            return out

    def records(self, name: str) -> list[bytes]:
        """Every record's data, partition 0 first, each partition in sequence order."""
        with self._lock:
            return [r.data for part in self.streams[name].partitions for r in part]

    def throttle_next(self, n: int) -> None:
        """The next ``n`` records sent with PutRecords fail with DIS.4303 inside a 200 answer."""
        with self._lock:
            self._throttle = n

    # -- HTTP --

    def start(self, port: int | None = None) -> None:
        """Serve on ``port`` (a free one by default; the same one again after ``stop``, for links that name it)."""
        self.port = port or free_port()
        self._http = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self._http.daemon_threads = True
        self._http.dis = self  # type: ignore[attr-defined]
        threading.Thread(target=self._http.serve_forever, name="dis-server", daemon=True).start()

    def stop(self) -> None:
        if self._http:
            self._http.shutdown()
            self._http.server_close()

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, object]:
        """One request → ``(status, JSON document or None)``; ``headers`` keys lower-case."""
        with self._lock:
            self.requests += 1
        split = urlsplit(target)
        try:
            self._authenticate(method, split.path, split.query, headers, body)
            parts = [unquote(p) for p in split.path.split("/") if p]
            if len(parts) < 3 or parts[0] != "v2" or len(parts) > 4:
                raise DisError(404, "DIS.4200", f"Invalid request. [{method} {split.path}]")
            if parts[1] != self.project_id:
                raise DisError(400, "DIS.4117", f"Invalid Project Id. [{parts[1]}]")
            query = dict(parse_qsl(split.query, keep_blank_values=True))
            try:
                doc = json.loads(body) if body and method in ("POST", "PUT") else {}
            except ValueError:
                raise DisError(400, "DIS.4200", "Invalid request. body is not JSON") from None
            if not isinstance(doc, dict):
                raise DisError(400, "DIS.4200", "Invalid request. body must be a JSON object")
            routes = {("POST", "streams", 3): "CreateStream", ("GET", "streams", 3): "ListStreams",
                      ("GET", "streams", 4): "DescribeStream", ("DELETE", "streams", 4): "DeleteStream",
                      ("POST", "records", 3): "PutRecords", ("GET", "records", 3): "GetRecords",
                      ("GET", "cursors", 3): "GetCursor"}
            call = routes.get((method, parts[2], len(parts)))
            if call is None:
                raise DisError(404, "DIS.4200", f"Invalid request. [{method} {split.path}]")
            with self._lock:
                self.calls[call] += 1
                return getattr(self, call)(parts[3] if len(parts) == 4 else None, query, doc)
        except DisError as e:
            return e.status, {"errorCode": e.code, "message": e.message}

    def _authenticate(self, method: str, raw_path: str, raw_query: str, headers: dict[str, str], body: bytes):
        auth, sdk_date = headers.get("authorization", "").strip(), headers.get("x-sdk-date", "").strip()
        if not auth:
            raise DisError(401, "DIS.4101", "Authorization header cannot be empty.")
        if not sdk_date:
            raise DisError(401, "DIS.4103", "Empty X-Sdk-Date header.")
        try:
            signing.check_sdk_date(sdk_date, DATE_SKEW)
        except AuthError:
            raise DisError(401, "DIS.4105", "Invalid X-Sdk-Date header.") from None
        if " Access=" in auth:  # huaweicloudsdkcore / opencdm.signing
            try:
                ak = signing.parse_authorization(auth)[0]
            except AuthError:
                raise DisError(401, "DIS.4102", "Incorrectly parsed authorization header.") from None
            sk = self._secret(ak)
            if not signing.verify_signature(method, raw_path, raw_query, headers, body, sk):
                raise DisError(401, "DIS.4100", "Authorization error.")
            return
        m = _V2_AUTH.fullmatch(auth)
        if not m:
            raise DisError(401, "DIS.4109", "The Authorization header must contain the following field: "
                                            "{Credential,SignedHeaders,Signature;}")
        alg, ak, day, region, service, signed_names, signature = m.groups()
        sk = self._secret(ak)
        if service != "dis":
            raise DisError(401, "DIS.4108", "Empty ServiceName header.")
        if region != self.region:
            raise DisError(401, "DIS.4111", "Invalid Region header.")
        if day != sdk_date[:8]:
            raise DisError(401, "DIS.4105", "Invalid X-Sdk-Date header.")
        signed = signed_names.split(";")
        if "host" not in signed or any(name not in headers for name in signed):
            raise DisError(401, "DIS.4112", "Invalid authorization request.")
        payload = headers.get("x-sdk-content-sha256") or hashlib.sha256(body).hexdigest()
        host = headers["host"]
        # The 2.x SDK signs the host without its port (its "port is 443 or 80" test is always true).
        for host_value in dict.fromkeys((host, host.rsplit(":", 1)[0])):
            creq = _v2_canonical(method, raw_path, raw_query, {**headers, "host": host_value}, signed, payload)
            if hmac.compare_digest(_v2_signature(alg, ak, sk, day, region, service, sdk_date, creq), signature):
                return
        raise DisError(401, "DIS.4100", "Authorization error.")

    def _secret(self, ak: str) -> str:
        if ak not in self.credentials:
            raise DisError(401, "DIS.4107", "Invalid AccessKey header.")
        return self.credentials[ak]

    def _stream(self, name: str | None) -> Stream:
        if not name or name not in self.streams:
            raise DisError(400, "DIS.4301", f"The stream does not exist. [{name}]")
        return self.streams[name]

    def _append(self, stream: Stream, index: int, key: str | None, data: bytes) -> tuple[str, str]:
        part = stream.partitions[index]
        part.append(Record(len(part), key, data, int(time.time() * 1000)))
        return shard_id(index), str(len(part) - 1)

    # -- the calls (run under the lock; ``name`` is the 4th path segment) --

    def CreateStream(self, _name, _query, doc) -> tuple[int, object]:
        name, count = doc.get("stream_name"), doc.get("partition_count")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            raise DisError(400, "DIS.4200", "Invalid request. stream_name must be 1-64 of [A-Za-z0-9_-]")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 100:
            raise DisError(400, "DIS.4200", "Invalid request. partition_count must be 1-100")
        data_type = doc.get("data_type") or "BLOB"
        if data_type not in ("BLOB", "JSON", "CSV"):
            raise DisError(400, "DIS.4200", f"Invalid request. data_type {data_type}")
        if name in self.streams:
            raise DisError(400, "DIS.4307", "The stream already exists.")
        self.streams[name] = Stream(name, [[] for _ in range(count)], data_type, doc.get("stream_type") or "COMMON",
                                    int(doc.get("data_duration") or 24))
        return 201, None

    def ListStreams(self, _name, query, _doc) -> tuple[int, object]:
        limit = _int(query.get("limit", "10"), 1, 100, "limit")
        names = sorted(n for n in self.streams if n > query.get("start_stream_name", ""))
        page = names[:limit]
        info = [{"stream_name": n, "create_time": s.created, "retention_period": s.retention, "status": "RUNNING",
                 "stream_type": s.stream_type, "data_type": s.data_type, "partition_count": len(s.partitions),
                 "auto_scale_enabled": False, "tags": [], "sys_tags": []}
                for n, s in ((n, self.streams[n]) for n in page)]
        return 200, {"total_number": len(self.streams), "stream_names": page,
                     "has_more_streams": len(names) > limit, "stream_info_list": info}

    def DescribeStream(self, name, query, _doc) -> tuple[int, object]:
        stream = self._stream(name)
        count = len(stream.partitions)
        start = query.get("start_partitionId")
        first = _partition_index(start, count) + 1 if start else 0
        limit = _int(query.get("limit_partitions", "100"), 1, 1000, "limit_partitions")
        parts = [{"partition_id": shard_id(i), "status": "ACTIVE",
                  "hash_range": "[{} : {}]".format(*_hash_range(i, count)),
                  "sequence_number_range": f"[0 : {len(stream.partitions[i])}]"}
                 for i in range(first, min(count, first + limit))]
        return 200, {"stream_name": stream.name, "stream_id": stream.id, "create_time": stream.created,
                     "last_modified_time": stream.created, "retention_period": stream.retention, "status": "RUNNING",
                     "stream_type": stream.stream_type, "data_type": stream.data_type, "partitions": parts,
                     "has_more_partitions": first + limit < count, "writable_partition_count": count,
                     "readable_partition_count": count, "update_partition_counts": [], "tags": [], "sys_tags": [],
                     "auto_scale_enabled": False}

    def DeleteStream(self, name, _query, _doc) -> tuple[int, object]:
        del self.streams[self._stream(name).name]
        return 204, None

    def PutRecords(self, _name, _query, doc) -> tuple[int, object]:
        name = doc.get("stream_name") or next((n for n, s in self.streams.items()
                                               if doc.get("stream_id") and s.id == doc["stream_id"]), None)
        stream, entries = self._stream(name), doc.get("records")
        if not isinstance(entries, list) or not entries:
            raise DisError(400, "DIS.4202", "Empty request.")
        if len(entries) > MAX_PUT_RECORDS:
            raise DisError(400, "DIS.4200", f"Invalid request. at most {MAX_PUT_RECORDS} records per PutRecords")
        count, parsed, total = len(stream.partitions), [], 0
        for entry in entries:
            try:
                data = base64.b64decode(entry["data"], validate=True)
            except (KeyError, TypeError, ValueError):
                raise DisError(400, "DIS.4200", "Invalid request. record data must be base64") from None
            key = entry.get("partition_key")
            if len(data) > MAX_RECORD_BYTES:
                raise DisError(400, "DIS.4200", f"Invalid request. a record exceeds {MAX_RECORD_BYTES} bytes")
            total += len(data) + len(str(key or "").encode())
            if entry.get("partition_id") not in (None, ""):
                index = _partition_index(entry["partition_id"], count)
            elif entry.get("explicit_hash_key") not in (None, ""):
                index = _hash_index(_int(entry["explicit_hash_key"], 0, HASH_MAX, "explicit_hash_key"), count)
            else:  # no key: a random partition
                raw = str(key) if key not in (None, "") else uuid.uuid4().hex
                index = _hash_index(int(hashlib.md5(raw.encode()).hexdigest(), 16) & HASH_MAX, count)
            parsed.append((index, None if key is None else str(key), data))
        if total > MAX_PUT_BYTES:
            raise DisError(400, "DIS.4200", f"Invalid request. a PutRecords call exceeds {MAX_PUT_BYTES} bytes")
        results, failed = [], 0
        for index, key, data in parsed:
            if self._throttle > 0:
                self._throttle -= 1
                failed += 1
                results.append({"error_code": THROTTLED[0], "error_message": THROTTLED[1]})
            else:
                pid, seq = self._append(stream, index, key, data)
                results.append({"partition_id": pid, "sequence_number": seq})
        return 200, {"failed_record_count": failed, "records": results}

    def GetCursor(self, _name, query, _doc) -> tuple[int, object]:
        stream = self._stream(query.get("stream-name"))
        index = _partition_index(query.get("partition-id"), len(stream.partitions))
        part, kind = stream.partitions[index], query.get("cursor-type") or "AT_SEQUENCE_NUMBER"
        if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            raw = query.get("starting-sequence-number", "")
            if not raw.isdigit():
                raise DisError(400, "DIS.4216", f"Invalid sequence_number. [{raw}]")
            position = int(raw) + (kind == "AFTER_SEQUENCE_NUMBER")
            if position > len(part):
                raise DisError(400, "DIS.4224", f"Sequence_number out of range. [{raw}], range [0 : {len(part)}]")
        elif kind == "TRIM_HORIZON":
            position = 0
        elif kind == "LATEST":
            position = len(part)
        elif kind == "AT_TIMESTAMP":
            ts = _int(query.get("timestamp", ""), 0, 1 << 62, "timestamp")
            position = next((r.seq for r in part if r.ts >= ts), len(part))
        else:
            raise DisError(400, "DIS.4215", f"Invalid cursor type. [{kind}]")
        return 200, {"partition_cursor": self._cursor(stream, index, position)}

    def GetRecords(self, _name, query, _doc) -> tuple[int, object]:
        raw = query.get("partition-cursor", "")
        try:
            cur = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            name, sid, index, position, made = cur["n"], cur["s"], cur["p"], cur["i"], cur["t"]
        except (ValueError, KeyError, TypeError):
            raise DisError(400, "DIS.4217", "Invalid partition cursor.") from None
        stream = self._stream(name)
        if stream.id != sid or index >= len(stream.partitions):
            raise DisError(400, "DIS.4217", "Invalid partition cursor.")
        if time.time() - made > self.cursor_ttl:
            raise DisError(400, "DIS.4225", "Expired partition cursor.")
        limit = _int(query.get("limit", "1000"), 1, MAX_GET_LIMIT, "limit")
        max_bytes = _int(query.get("max_fetch_bytes", str(1 << 62)), 1, 1 << 62, "max_fetch_bytes")
        out, size = [], 0
        for r in stream.partitions[index][position:position + limit]:
            size += len(r.data)
            if size > max_bytes:
                break
            out.append({"partition_key": r.key, "sequence_number": str(r.seq), "data": _b64(r.data),
                        "timestamp": r.ts, "timestamp_type": "CreateTime"})
        return 200, {"records": out, "next_partition_cursor": self._cursor(stream, index, position + len(out))}

    def _cursor(self, stream: Stream, index: int, position: int) -> str:
        doc = {"n": stream.name, "s": stream.id, "p": index, "i": position, "t": round(time.time(), 3)}
        return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode().rstrip("=")


def _int(value: object, lo: int, hi: int, what: str) -> int:
    try:
        n = int(str(value))
    except ValueError:
        n = lo - 1
    if not lo <= n <= hi:
        raise DisError(400, "DIS.4200", f"Invalid request. {what} must be an integer in [{lo}, {hi}]")
    return n


def _hash_index(value: int, count: int) -> int:
    return next(i for i in range(count) if value <= _hash_range(i, count)[1])


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body go in two sends: with Nagle each call waited ~40 ms
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 4 * MAX_PUT_BYTES:
            status, doc = 413, {"errorCode": "DIS.4200", "message": "Invalid request. body too large"}
            self.close_connection = True
        else:
            headers: dict[str, str] = {}
            for name, value in self.headers.items():
                headers.setdefault(name.lower(), value)
            body = self.rfile.read(length) if length else b""
            status, doc = self.server.dis.handle(self.command, self.path, headers, body)  # type: ignore[attr-defined]
        data = b"" if doc is None else json.dumps(doc).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


# --- a real DIS (opt-in) ---------------------------------------------------------------------------


class RealDis:
    """The fixture's helpers for a real DIS endpoint, through the API (signed with ``opencdm.signing``).

    Also works against ``DisServer`` (``test_dis_server.py`` checks it there). Streams it creates are
    deleted by ``close()``. ``throttle_next`` skips: fault injection needs the test server.
    """

    def __init__(self, url: str, ak: str, sk: str, project_id: str, region: str) -> None:
        self.url, self.ak, self.sk, self.project_id, self.region = url.rstrip("/"), ak, sk, project_id, region
        self.created: list[str] = []

    link_inputs = DisServer.link_inputs

    def call(self, method: str, path: str, query: dict | None = None, body: object = None) -> httpx.Response:
        raw_path = f"/v2/{self.project_id}/{path}"
        raw_query = "&".join(f"{quote(k, safe='~')}={quote(str(v), safe='~')}" for k, v in (query or {}).items())
        content = json.dumps(body).encode() if body is not None else b""
        headers = {"Host": urlsplit(self.url).netloc, "Content-Type": "application/json",
                   "X-Sdk-Date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")}
        headers["Authorization"] = signing.sign(method, raw_path, raw_query, headers, content, self.ak, self.sk)
        target = self.url + raw_path + (f"?{raw_query}" if raw_query else "")
        return httpx.request(method, target, headers=headers, content=content, timeout=60)

    def _ok(self, resp: httpx.Response) -> dict:
        if resp.status_code >= 300:
            raise RuntimeError(f"DIS answered {resp.status_code}: {resp.text[:500]}")
        return resp.json() if resp.content else {}

    def create_stream(self, name: str, partitions: int = 1, data_type: str = "BLOB") -> None:
        self._ok(self.call("POST", "streams", body={"stream_name": name, "partition_count": partitions,
                                                    "stream_type": "COMMON", "data_type": data_type,
                                                    "data_duration": 24}))
        self.created.append(name)
        deadline = time.monotonic() + 120
        while self._ok(self.call("GET", f"streams/{name}")).get("status") != "RUNNING":
            if time.monotonic() > deadline:
                raise RuntimeError(f"stream {name} did not become RUNNING")
            time.sleep(2)

    def delete_stream(self, name: str) -> None:
        self.call("DELETE", f"streams/{name}")

    def put(self, name: str, datas: list[bytes], partition: int | None = None) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for start in range(0, len(datas), MAX_PUT_RECORDS):
            batch = [{"data": _b64(d), **({"partition_id": shard_id(partition)} if partition is not None
                                          else {"partition_key": str(start + i)})}
                     for i, d in enumerate(datas[start:start + MAX_PUT_RECORDS])]
            done: list = [None] * len(batch)
            todo = list(range(len(batch)))
            for attempt in range(20):
                res = self._ok(self.call("POST", "records", body={"stream_name": name,
                                                                  "records": [batch[i] for i in todo]}))
                for i, entry in zip(todo, res["records"], strict=True):
                    if not entry.get("error_code"):
                        done[i] = (entry["partition_id"], entry["sequence_number"])
                todo = [i for i in todo if done[i] is None]
                if not todo:
                    break
                time.sleep(min(0.05 * 2 ** attempt, 2))
            if todo:
                raise RuntimeError(f"{len(todo)} records still failing after retries")
            out += done
        return out

    def records(self, name: str) -> list[bytes]:
        out: list[bytes] = []
        for part in self._ok(self.call("GET", f"streams/{name}", {"limit_partitions": 1000}))["partitions"]:
            cursor = self._ok(self.call("GET", "cursors", {"stream-name": name, "partition-id": part["partition_id"],
                                                           "cursor-type": "TRIM_HORIZON"}))["partition_cursor"]
            while True:
                page = self._ok(self.call("GET", "records", {"partition-cursor": cursor, "limit": MAX_GET_LIMIT}))
                if not page["records"]:
                    break
                out += [base64.b64decode(r["data"]) for r in page["records"]]
                cursor = page["next_partition_cursor"]
        return out

    def close(self) -> None:
        for name in self.created:
            self.delete_stream(name)


@pytest.fixture(scope="session")
def dis_test_server() -> Iterator[DisServer]:
    """The DIS-protocol server written for the tests, always: for tests that use its internals (fault
    injection, call counts, its state), which a real DIS does not offer."""
    server = DisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dis_server(request) -> Iterator[DisServer | RealDis]:
    """A real DIS when ``OPENCDM_TEST_DIS_ENDPOINT`` (and ``_AK``, ``_SK``, ``_PROJECT_ID``, ``_REGION``) is
    set, else the test server."""
    endpoint = os.environ.get("OPENCDM_TEST_DIS_ENDPOINT")
    if not endpoint:
        yield request.getfixturevalue("dis_test_server")
        return
    env = {k: os.environ.get(f"OPENCDM_TEST_DIS_{k}", "") for k in ("AK", "SK", "PROJECT_ID", "REGION")}
    real = RealDis(endpoint, env["AK"], env["SK"], env["PROJECT_ID"], env["REGION"])
    try:
        yield real
    finally:
        real.close()
