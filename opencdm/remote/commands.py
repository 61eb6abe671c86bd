"""``opencdm cluster …``, and what every command over the REST API shares (output, errors, exit codes).

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


class Output(str, Enum):
    text = "text"
    json = "json"


OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="text for people, json for scripts.")]
ClusterOpt = Annotated[Optional[str], typer.Option("--cluster", "-c", help="Cluster id or name (env OPENCDM_CLUSTER).")]
FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A CDM request body (JSON).")]

cluster_app = typer.Typer(help="Clusters of the project (a local pool or a Dask scheduler).", no_args_is_help=True)


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
