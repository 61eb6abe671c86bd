"""The ``opencdm`` command: serve, credentials, users, demo, connectors, db upgrade."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from opencdm import __version__
from opencdm.remote import commands as remote_commands
from opencdm.remote import jobs as remote_jobs

app = typer.Typer(help="opencdm: a self-hosted CDM v1.1 server that really moves data.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
credentials_app = typer.Typer(help="AK/SK access keys for SDK-HMAC-SHA256 signing.", no_args_is_help=True)
user_app = typer.Typer(help="Users who get IAM-style X-Auth-Token tokens.", no_args_is_help=True)
db_app = typer.Typer(help="The metadata store.", no_args_is_help=True)
app.add_typer(credentials_app, name="credentials")
app.add_typer(user_app, name="user")
app.add_typer(db_app, name="db")
app.add_typer(remote_commands.cluster_app, name="cluster")
app.add_typer(remote_jobs.link_app, name="link")
app.add_typer(remote_jobs.job_app, name="job")
app.command("submissions")(remote_jobs.submissions)


@app.callback()
def connection_options(
        ctx: typer.Context,
        endpoint: Annotated[Optional[str], typer.Option(help="Server URL for cluster/link/job/submissions "
                                                             "(env OPENCDM_ENDPOINT).")] = None,
        project_id: Annotated[Optional[str], typer.Option("--project-id", help="env OPENCDM_PROJECT_ID.")] = None,
        ak: Annotated[Optional[str], typer.Option(help="Access key (env OPENCDM_AK).")] = None,
        sk: Annotated[Optional[str], typer.Option(help="Secret key (env OPENCDM_SK).")] = None,
        token: Annotated[Optional[str], typer.Option(help="X-Auth-Token instead of AK/SK (env OPENCDM_TOKEN).")] = None,
        config: Annotated[Optional[Path], typer.Option(help="CLI config file (env OPENCDM_CLI_CONFIG; default "
                                                            "~/.config/opencdm/cli.toml).")] = None) -> None:
    """Options for the commands that talk to a server over the REST API."""
    ctx.obj = {"flags": {"endpoint": endpoint, "project_id": project_id, "ak": ak, "sk": sk, "token": token},
               "config": config}

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Data directory (env OPENCDM_DATA_DIR).")]


def _settings(data_dir: Path | None):
    from pydantic import ValidationError

    from opencdm.settings import Settings

    try:
        return Settings(data_dir=data_dir) if data_dir else Settings()
    except ValidationError as exc:  # one line per bad variable, named as the operator set it
        for err in exc.errors():
            typer.echo(f"error: OPENCDM_{str(err['loc'][0]).upper()}: {err['msg']}", err=True)
        raise typer.Exit(2) from None


def _store_and_box(data_dir: Path | None):
    from opencdm.store.db import Store
    from opencdm.store.secrets import SecretBox

    settings = _settings(data_dir)
    store = Store(settings.metadata_url)
    store.migrate()
    return store, SecretBox(settings.key_file)


@app.command()
def version() -> None:
    """Print the opencdm version."""
    typer.echo(__version__)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8087, data_dir: DataDir = None,
          log_level: Optional[str] = typer.Option(None, help="debug, info, warning, error (default: "
                                                             "OPENCDM_LOG_LEVEL, INFO)")) -> None:
    """Run the API server (metadata in DATA_DIR/opencdm.db unless OPENCDM_DATABASE_URL is set)."""
    import uvicorn

    from opencdm.app import create_app

    from opencdm import logs

    try:
        settings = _settings(data_dir)
        level = logs.check_level(log_level or settings.log_level)
        logs.configure(level, settings.log_format)
        app_ = create_app(settings)
    except ValueError as exc:  # a bad setting, a file root that would expose the server's own files
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    uvicorn.run(app_, host=host, port=port, log_level=level.lower(), access_log=False, log_config=None)


@credentials_app.command("create")
def credentials_create(project_id: Annotated[str, typer.Option("--project-id")], data_dir: DataDir = None,
                       user: str = typer.Option("cdm", help="User name recorded as creation-user.")) -> None:
    """Create an AK/SK pair for PROJECT_ID and print it as JSON (the SK is shown only here)."""
    from opencdm.store import credentials

    from opencdm.errors import CdmError

    store, box = _store_and_box(data_dir)
    try:
        with store.session() as s:
            ak, sk = credentials.create_credential(s, box, project_id, user)
    except CdmError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    _settings(data_dir).project_root(project_id)  # the project's own file root (0700), ready for its links
    typer.echo(json.dumps({"ak": ak, "sk": sk, "project_id": project_id}))


@user_app.command("create")
def user_create(name: Annotated[str, typer.Option("--name")], password: Annotated[str, typer.Option("--password")],
                project_id: Annotated[str, typer.Option("--project-id")], data_dir: DataDir = None) -> None:
    """Create a user who can get a token with POST /v3/auth/tokens (password method)."""
    from opencdm.store import credentials

    from opencdm.errors import CdmError

    store, _ = _store_and_box(data_dir)
    try:
        with store.session() as s:
            credentials.create_user(s, name, password, project_id)
    except CdmError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    _settings(data_dir).project_root(project_id)
    typer.echo(json.dumps({"name": name, "project_id": project_id}))


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Create or migrate the metadata schema to the latest revision."""
    store, _ = _store_and_box(data_dir)
    typer.echo(f"metadata store at the latest revision ({store.engine.url.render_as_string(hide_password=True)})")


@app.command("connectors")
def list_connectors() -> None:
    """List the registered connectors."""
    from opencdm import connectors

    for name in connectors.names():
        c = connectors.get(name)
        typer.echo(f"{name}\t{'/'.join(sorted(c.directions))}")


@app.command()
def demo(rows: int = typer.Option(1_000_000, help="Rows in the generated source table."),
         extractors: int = typer.Option(2, help="throttlingConfig.numExtractors."),
         data_dir: DataDir = None, port: int = typer.Option(0, help="Server port; 0 picks a free one.")) -> None:
    """The embedded default end to end: server, cluster, SQLite source, random-cluster job, verified result."""
    from opencdm.demo import run_demo

    raise typer.Exit(run_demo(rows=rows, extractors=extractors, data_dir=data_dir, port=port))
