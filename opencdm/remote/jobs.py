"""``opencdm link …``, ``opencdm job …`` and ``opencdm submissions``: links and jobs over the REST API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from opencdm.remote import connection
from opencdm.remote.commands import ClusterOpt, FileArg, Output, OutputOpt, emit, read_body, remote, run_command, table
from opencdm.remote.connection import CliError, Remote
from opencdm.remote.progress import follow, rows_of
from opencdm.store.status import FINAL, SUCCEEDED

link_app = typer.Typer(help="Links: connections to data stores.", no_args_is_help=True)
job_app = typer.Typer(help="Jobs: create, run and follow them.", no_args_is_help=True)


# -- links ----------------------------------------------------------------------------------------------

def _each_link(ctx: typer.Context, file: Path, cluster: str | None, query: dict | None) -> tuple[list, list]:
    """POST each link of FILE on its own (CDM takes one link per request); (answers, the links)."""
    r = remote(ctx)
    cid = r.cluster_id(cluster)
    links = read_body(file, "links")["links"]
    return [r.call("POST", f"/clusters/{cid}/cdm/link", {"links": [link]}, query) for link in links], links


@link_app.command("create")
def link_create(ctx: typer.Context, file: FileArg, cluster: ClusterOpt = None, output: OutputOpt = Output.text) -> None:
    """Create the links of FILE (``{"links": [...]}``) after the server tested each one."""
    def go():
        docs, links = _each_link(ctx, file, cluster, None)
        emit(output, docs, [f"created link {link.get('name')}" for link in links])
    run_command(output, go)


@link_app.command("test")
def link_test(ctx: typer.Context, file: FileArg, cluster: ClusterOpt = None, output: OutputOpt = Output.text) -> None:
    """Test the connections of FILE's links without saving them (``?validate=true``)."""
    def go():
        docs, links = _each_link(ctx, file, cluster, {"validate": "true"})
        emit(output, docs, [f"{link.get('name')}: ok" + (f" ({doc['link-check']})" if doc.get("link-check") else "")
                            for link, doc in zip(links, docs)])
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
