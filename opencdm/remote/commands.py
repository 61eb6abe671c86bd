"""``opencdm cluster|link|job …`` and ``opencdm submissions``: the REST API for people and scripts.

Every command prints text for people or, with ``--output json``, the server's JSON answer (one
document on stdout) for scripts; errors go to stderr (as JSON under ``--output json``) and end the
command with an exit code from ``connection`` (0 succeeded, 1 the run failed, 2 bad input, 3 not
found, 4 refused, 5 server unavailable, 6 timed out waiting).
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from opencdm.remote import connection
from opencdm.remote.connection import CliError, Remote
from opencdm.remote.progress import follow, rows_of
from opencdm.store.status import FINAL, SUCCEEDED


class Output(str, Enum):
    text = "text"
    json = "json"


OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="text for people, json for scripts.")]
ClusterOpt = Annotated[Optional[str], typer.Option("--cluster", "-c", help="Cluster id or name (env OPENCDM_CLUSTER).")]
FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A CDM request body (JSON).")]

cluster_app = typer.Typer(help="Clusters of the project (a local pool or a Dask scheduler).", no_args_is_help=True)
link_app = typer.Typer(help="Links: connections to data stores.", no_args_is_help=True)
job_app = typer.Typer(help="Jobs: create, run and follow them.", no_args_is_help=True)


def remote(ctx: typer.Context) -> Remote:
    return connection.connect(ctx.obj.get("flags", {}), ctx.obj.get("config"))


def emit(output: Output, doc: Any, text: str | list[str]) -> None:
    if output is Output.json:
        typer.echo(json.dumps(doc, indent=2, sort_keys=True))
    else:
        typer.echo("\n".join(text) if isinstance(text, list) else text)


def run_command(output: Output, fn) -> None:
    """Run ``fn`` and turn a ``CliError`` into its message and exit code."""
    try:
        fn()
    except CliError as exc:
        if output is Output.json:
            typer.echo(json.dumps({"error": exc.message, "exit_code": exc.code, "response": exc.body}), err=True)
        else:
            typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(exc.code) from None


def read_body(path: Path, key: str) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CliError(connection.BAD_INPUT, f"{path}: not a JSON document ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get(key), list) or not doc[key]:
        raise CliError(connection.BAD_INPUT, f"{path}: expected a CDM body with a non-empty {key!r} list")
    return doc


def table(rows: list[list[Any]], head: list[str]) -> list[str]:
    cells = [head, *[[str(v) for v in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]


# -- clusters ----------------------------------------------------------------------------------------

def _cluster_rows(clusters: list[dict]) -> list[str]:
    return table([[c["id"], c["name"], c["status"], c.get("statusDetail", ""),
                   (c.get("backend") or {}).get("type", ""),
                   "{in-use}/{slots}".format(**c["capacity"]) if c.get("capacity") else ""] for c in clusters],
                 ["ID", "NAME", "STATUS", "DETAIL", "BACKEND", "SLOTS"])


@cluster_app.command("list")
def cluster_list(ctx: typer.Context, output: OutputOpt = Output.text) -> None:
    """List the project's clusters with status, backend and slots in use."""
    def go():
        doc = remote(ctx).call("GET", "/clusters")
        emit(output, doc, _cluster_rows(doc.get("clusters", [])))
    run_command(output, go)


@cluster_app.command("show")
def cluster_show(ctx: typer.Context, cluster: Annotated[str, typer.Argument(help="Cluster id or name.")],
                 output: OutputOpt = Output.text) -> None:
    """One cluster's detail."""
    def go():
        r = remote(ctx)
        doc = r.call("GET", f"/clusters/{r.cluster_id(cluster)}")
        emit(output, doc, _cluster_rows([doc]))
    run_command(output, go)


@cluster_app.command("create")
def cluster_create(ctx: typer.Context, name: Annotated[str, typer.Option("--name", help="Cluster name.")],
                   dask_scheduler: Annotated[Optional[str], typer.Option(
                       "--dask-scheduler", help="Bind the cluster to this Dask scheduler (tcp://host:8786).")] = None,
                   flavor: Annotated[str, typer.Option(help="Flavor id (sets the local pool's size).")] =
                   "a79fd5ae-1833-448a-88e8-3ea2b913e1f6",
                   output: OutputOpt = Output.text) -> None:
    """Create a cluster: a local worker pool, or partitions on a Dask scheduler's workers."""
    def go():
        body: dict[str, Any] = {"cluster": {"name": name, "vpcId": "local", "instances": [{
            "availability_zone": "local", "flavorRef": flavor, "type": "cdm",
            "nics": [{"securityGroupId": "local", "net-id": "local"}]}]}}
        if dask_scheduler:
            body["cluster"]["sys_tags"] = [{"key": "opencdm.dask-scheduler", "value": dask_scheduler}]
        doc = remote(ctx).call("POST", "/clusters", body)
        emit(output, doc, f"created cluster {doc.get('name')} {doc.get('id')}")
    run_command(output, go)


def _action(ctx: typer.Context, cluster: str, body: dict, output: Output, verb: str) -> None:
    def go():
        r = remote(ctx)
        cid = r.cluster_id(cluster)
        doc = r.call("POST", f"/clusters/{cid}/action", body)
        emit(output, doc, f"{verb} cluster {cid}")
    run_command(output, go)


ClusterArg = Annotated[str, typer.Argument(help="Cluster id or name.")]


@cluster_app.command("start")
def cluster_start(ctx: typer.Context, cluster: ClusterArg, output: OutputOpt = Output.text) -> None:
    """Start a stopped cluster."""
    _action(ctx, cluster, {"start": {}}, output, "starting")


@cluster_app.command("stop")
def cluster_stop(ctx: typer.Context, cluster: ClusterArg, output: OutputOpt = Output.text,
                 graceful: Annotated[int, typer.Option(help="Seconds running jobs may finish (0: stop now).")] = 0,
                 ) -> None:
    """Stop a cluster (a Dask cluster keeps running: only opencdm stops using it)."""
    stop = {"stopMode": "GRACEFULLY", "delayTime": graceful} if graceful else {"stopMode": "IMMEDIATELY"}
    _action(ctx, cluster, {"stop": stop}, output, "stopping")


@cluster_app.command("restart")
def cluster_restart(ctx: typer.Context, cluster: ClusterArg, output: OutputOpt = Output.text) -> None:
    """Restart a cluster's workers (for a Dask cluster: opencdm's connection to it)."""
    _action(ctx, cluster, {"restart": {"restartDelayTime": 0, "restartMode": "IMMEDIATELY", "restartLevel": "SERVICE",
                                       "type": "cdm"}}, output, "restarting")


@cluster_app.command("delete")
def cluster_delete(ctx: typer.Context, cluster: ClusterArg, output: OutputOpt = Output.text) -> None:
    """Delete a cluster with its links and jobs."""
    def go():
        r = remote(ctx)
        cid = r.cluster_id(cluster)
        emit(output, r.call("DELETE", f"/clusters/{cid}", {"keep_last_manual_backup": 0}), f"deleting cluster {cid}")
    run_command(output, go)


# -- links ----------------------------------------------------------------------------------------------

@link_app.command("create")
def link_create(ctx: typer.Context, file: FileArg, cluster: ClusterOpt = None, output: OutputOpt = Output.text) -> None:
    """Create the links of FILE (``{"links": [...]}``, one request each) after the server tested each one."""
    def go():
        r = remote(ctx)
        cid = r.cluster_id(cluster)
        links = read_body(file, "links")["links"]
        docs = [r.call("POST", f"/clusters/{cid}/cdm/link", {"links": [link]}) for link in links]
        emit(output, docs, [f"created link {link.get('name')}" for link in links])
    run_command(output, go)


@link_app.command("test")
def link_test(ctx: typer.Context, file: FileArg, cluster: ClusterOpt = None, output: OutputOpt = Output.text) -> None:
    """Test the connections of FILE's links without saving them (``?validate=true``)."""
    def go():
        r = remote(ctx)
        cid = r.cluster_id(cluster)
        docs, checks = [], []
        for link in read_body(file, "links")["links"]:
            docs.append(r.call("POST", f"/clusters/{cid}/cdm/link", {"links": [link]}, {"validate": "true"}))
            checks.append(f"{link.get('name')}: ok" + (f" ({docs[-1]['link-check']})" if docs[-1].get("link-check")
                                                        else ""))
        emit(output, docs, checks)
    run_command(output, go)


@link_app.command("show")
def link_show(ctx: typer.Context, name: str, cluster: ClusterOpt = None, output: OutputOpt = Output.json) -> None:
    """One link (secrets masked by the server)."""
    def go():
        r = remote(ctx)
        doc = r.call("GET", f"/clusters/{r.cluster_id(cluster)}/cdm/link/{name}")
        emit(output, doc, json.dumps(doc, indent=2))
    run_command(output, go)


@link_app.command("delete")
def link_delete(ctx: typer.Context, name: str, cluster: ClusterOpt = None, output: OutputOpt = Output.text) -> None:
    """Delete a link no job uses."""
    def go():
        r = remote(ctx)
        emit(output, r.call("DELETE", f"/clusters/{r.cluster_id(cluster)}/cdm/link/{name}"), f"deleted link {name}")
    run_command(output, go)


# -- jobs ---------------------------------------------------------------------------------------------

def _status(r: Remote, cid: str, name: str) -> dict[str, Any]:
    return (r.call("GET", f"/clusters/{cid}/cdm/job/{name}/status").get("submissions") or [{}])[0]


def _summary(sub: dict[str, Any]) -> str:
    text = f"{sub.get('job-name')} {sub.get('status')} {float(sub.get('progress') or 0):.0f}% rows={rows_of(sub):,}"
    if sub.get("status") == "FAILED":
        text += f"\n  {sub.get('error-summary') or ''}"
    return text


def _wait(r: Remote, cid: str, name: str, timeout: float | None, output: Output) -> dict[str, Any]:
    sub = follow(name, lambda: _status(r, cid, name), timeout=timeout,
                 tty=False if output is Output.json else None)
    if sub is None:
        raise CliError(connection.TIMED_OUT, f"job {name} did not end within {timeout} s")
    return sub


def _ended(output: Output, subs: list[dict[str, Any]], extra: Any = None) -> None:
    emit(output, extra if extra is not None else {"submissions": subs}, [_summary(s) for s in subs])
    if any(s.get("status") != SUCCEEDED for s in subs):
        raise typer.Exit(connection.RUN_FAILED)


Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run until it ends (live progress).")]
Timeout = Annotated[Optional[float], typer.Option(help="Seconds --wait waits at most (exit code 6 after).")]


@job_app.command("run")
def job_run(ctx: typer.Context, file: FileArg, cluster: ClusterOpt = None, wait: Wait = False,
            timeout: Timeout = None, output: OutputOpt = Output.text) -> None:
    """Create FILE's jobs (replacing jobs of the same name) and start them.

    FILE is a CDM body: ``{"jobs": [...]}`` runs on --cluster; with a ``clusters`` list as well, it is
    the random-cluster call (``POST /clusters/job``), which picks a running cluster among them."""
    def go():
        r = remote(ctx)
        body = read_body(file, "jobs")
        if body.get("clusters"):
            subs = r.call("POST", "/clusters/job", body).get("submissions", [])
            started = [(s["cluster_id"], s["job-name"]) for s in subs]
        else:
            cid = r.cluster_id(cluster)
            for job in body["jobs"]:
                try:
                    r.call("PUT", f"/clusters/{cid}/cdm/job/{job.get('name')}", {"jobs": [job]})
                except CliError as exc:
                    if exc.code != connection.NOT_FOUND:
                        raise
                    r.call("POST", f"/clusters/{cid}/cdm/job", {"jobs": [job]})
            started = []
            for job in body["jobs"]:
                r.call("PUT", f"/clusters/{cid}/cdm/job/{job['name']}/start", {})
                started.append((cid, job["name"]))
        if not wait:
            subs = [_status(r, cid, name) for cid, name in started]
            emit(output, {"submissions": subs}, [f"started {name} on cluster {cid}" for cid, name in started])
            return
        _ended(output, [_wait(r, cid, name, timeout, output) for cid, name in started])
    run_command(output, go)


@job_app.command("list")
def job_list(ctx: typer.Context, cluster: ClusterOpt = None, output: OutputOpt = Output.text) -> None:
    """The cluster's jobs with their last run's status."""
    def go():
        r = remote(ctx)
        doc = r.call("GET", f"/clusters/{r.cluster_id(cluster)}/cdm/job/all", query={"page_size": 100})
        emit(output, doc, table([[j.get("name"), j.get("job_type"), j.get("status"), j.get("from-connector-name"),
                                  j.get("to-connector-name")] for j in doc.get("jobs", [])],
                                ["NAME", "TYPE", "STATUS", "FROM", "TO"]))
    run_command(output, go)


@job_app.command("status")
def job_status(ctx: typer.Context, name: str, cluster: ClusterOpt = None, wait: Wait = False,
               timeout: Timeout = None, output: OutputOpt = Output.text) -> None:
    """The job's latest run; with --wait, follow it to the end (exit code 1 unless it succeeded)."""
    def go():
        r = remote(ctx)
        cid = r.cluster_id(cluster)
        sub = _wait(r, cid, name, timeout, output) if wait else _status(r, cid, name)
        if sub.get("status") in FINAL:
            _ended(output, [sub])
        else:
            emit(output, {"submissions": [sub]}, _summary(sub))
    run_command(output, go)


@job_app.command("stop")
def job_stop(ctx: typer.Context, name: str, cluster: ClusterOpt = None, output: OutputOpt = Output.text) -> None:
    """Stop the job's running run."""
    def go():
        r = remote(ctx)
        emit(output, r.call("PUT", f"/clusters/{r.cluster_id(cluster)}/cdm/job/{name}/stop", {}), f"stopping {name}")
    run_command(output, go)


@job_app.command("delete")
def job_delete(ctx: typer.Context, name: str, cluster: ClusterOpt = None, output: OutputOpt = Output.text) -> None:
    """Delete a job (its past runs stay listed)."""
    def go():
        r = remote(ctx)
        emit(output, r.call("DELETE", f"/clusters/{r.cluster_id(cluster)}/cdm/job/{name}"), f"deleted {name}")
    run_command(output, go)


def _took(sub: dict[str, Any]) -> str:
    return f"{max(0, (sub.get('last-update-date') or 0) - (sub.get('creation-date') or 0)) / 1000:.1f}s"


def submissions(ctx: typer.Context, job: Annotated[str, typer.Argument(help="Job name.")], cluster: ClusterOpt = None,
                page_size: Annotated[int, typer.Option(help="Runs to show, newest first (1-100).")] = 10,
                output: OutputOpt = Output.text) -> None:
    """A job's run history: status, rows, duration."""
    def go():
        r = remote(ctx)
        doc = r.call("GET", f"/clusters/{r.cluster_id(cluster)}/cdm/submissions",
                     query={"jname": job, "page_size": page_size})
        emit(output, doc, table([[s.get("submission-id"), s.get("status"), f"{rows_of(s):,}", _took(s),
                                  s.get("error-summary", "")] for s in doc.get("submissions", [])],
                                ["ID", "STATUS", "ROWS", "DURATION", "ERROR"]))
    run_command(output, go)
