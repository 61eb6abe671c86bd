"""In-server owner of clusters' worker pools and of every run: start, stop, progress, recovery."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
import shutil
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from opencdm import connectors, logs, metrics
from opencdm.clusters.base import dask_address
from opencdm.connectors.base import ConnectorContext
from opencdm.engine import expand
from opencdm.engine.attempts import Attempts, run_attempts
from opencdm.engine.batch import BatchRunner, sub_spec
from opencdm.engine.checkpoint import Resume
from opencdm.engine.dirty import dirty_spec
from opencdm.engine.options import DriverOptions
from opencdm.engine.runner import ProgressSink, Runner
from opencdm.engine.scheduler import Scheduler
from opencdm.engine.runtimes import ClusterRuntime, Runtimes
from opencdm.engine.spec import Counters, EndSpec, TransferSpec
from opencdm.engine.task import worker_init
from opencdm.errors import CdmError, Conflict, InvalidInput
from opencdm.settings import Settings
from opencdm.store import clusters as cluster_store
from opencdm.store import links as link_store
from opencdm.store import positions as position_store
from opencdm.store import status as st
from opencdm.store import submissions as submission_store
from opencdm.store.db import Store
from opencdm.store.secrets import SecretBox
from opencdm.store.tables import Cluster, Job, Submission
from opencdm.wire.common import flat_inputs

log = logging.getLogger("opencdm.supervisor")


class _StoreSink(ProgressSink):
    def __init__(self, store: Store, spec: TransferSpec, project_id: str = "", job_key: str = "") -> None:
        self.store = store
        self.sid = spec.submission_id
        self.project_id, self.job_name = project_id, job_key  # job_key: positions.job_key
        self.meter = metrics.RunMeter(spec.from_.connector, spec.to.connector)

    def positions(self, source: str) -> dict:
        with self.store.session() as s:
            return position_store.get(s, self.project_id, self.job_name, source)

    def save_positions(self, source: str, positions: dict) -> None:
        with self.store.session() as s:
            position_store.save(s, self.project_id, self.job_name, source, positions)

    def checkpoint(self, data: dict | None) -> None:
        with self.store.session() as s:
            submission_store.set_fields(s, self.sid, checkpoint=data)

    def running(self) -> None:
        with self.store.session() as s:
            submission_store.set_if_active(s, self.sid, status=st.RUNNING)

    def write_path(self, text: str) -> None:
        with self.store.session() as s:
            submission_store.set_if_active(s, self.sid, write_path=text)

    def progress(self, c: Counters, progress: float, sub_jobs: list | None = None) -> None:
        extra = {"sub_jobs": sub_jobs} if sub_jobs is not None else {}
        self.meter.progress(c.rows_read, c.rows_written, c.bytes_read, c.bytes_written)
        with self.store.session() as s:
            submission_store.set_if_active(s, self.sid, progress=progress, **_counts(c), **extra)

    def finished(self, ok: bool, c: Counters, error: CdmError | None) -> None:
        self.meter.progress(c.rows_read, c.rows_written, c.bytes_read, c.bytes_written)
        self.meter.ended(st.SUCCEEDED if ok else st.FAILED)
        fields = dict(_counts(c), rows_dirty=c.rows_dirty)
        if ok:
            fields.update(status=st.SUCCEEDED, progress=100.0)
        else:
            fields.update(status=st.FAILED, progress=-1.0, error_summary=str(error),
                          error_details=_details(error))
        with self.store.session() as s:
            submission_store.set_if_active(s, self.sid, **fields)


def _counts(c: Counters) -> dict[str, int]:
    return dict(rows_read=c.rows_read, rows_written=c.rows_written, bytes_read=c.bytes_read,
                bytes_written=c.bytes_written, files_read=c.files_read, files_written=c.files_written,
                files_skipped=c.files_skipped, total_files=c.total_files, total_size=c.total_size)


def _details(error: BaseException | None) -> str:
    parts = []
    while error is not None and len(parts) < 5:
        code = getattr(error, "code", "")
        parts.append(f"{type(error).__name__}{f' [{code}]' if code else ''}: {error}")
        error = error.__cause__
    return " <- ".join(parts)


class Supervisor:
    def __init__(self, store: Store, box: SecretBox, settings: Settings) -> None:
        self.store = store
        self.box = box
        self.settings = settings
        self._lifecycle = ThreadPoolExecutor(2, thread_name_prefix="run-recovery")
        self.runtimes = Runtimes(store, settings, worker_init)
        self._contexts: dict[str, ConnectorContext] = {}
        #: Where local runs keep their cancel flag and progress files (see clusters.local.LocalControl).
        self.control_root = settings.control_root
        self.scheduler = Scheduler(store, settings.timezone, self._start_planned, settings.scheduler_interval_seconds)

    def context(self, project_id: str) -> ConnectorContext:
        """What connectors of ``project_id`` may reach: its own file root, shared roots, allowed hosts.
        Built (and the root created) once per project: settings do not change while the server runs."""
        ctx = self._contexts.get(project_id)
        if ctx is None:
            root = self.settings.project_root(project_id)
            shared = self.settings.shared_roots(project_id)
            ctx = self._contexts[project_id] = ConnectorContext(
                file_root=str(root), allowed_dirs=(str(root), *(str(d) for d in shared)),
                egress=tuple(self.settings.link_egress_allow), timezone=self.settings.timezone)
        return ctx

    # -- server lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Reconcile runs orphaned by a previous server process, then bring clusters back up."""
        self.recover()
        shutil.rmtree(self.control_root, ignore_errors=True)  # controls of runs a crash left behind
        self.control_root.mkdir(parents=True, exist_ok=True)
        with self.store.session() as s:
            rows = [(c.id, c.status, c.flavor_id) for c in cluster_store.all_rows(s)]
        for cluster_id, status, flavor in rows:
            if status in (cluster_store.RUNNING, cluster_store.CREATING, cluster_store.STARTING,
                          cluster_store.RESTARTING):
                self.bring_up(cluster_id, flavor)
            elif status == cluster_store.STOPPING:
                with self.store.session() as s:
                    cluster_store.set_status(s, cluster_id, cluster_store.STOPPED)
        self._take_up()
        self.scheduler.run_in_background()

    def recover(self) -> None:
        """No submission stays BOOTING/RUNNING after a restart: drop its staging and fail it, except a
        permanent stream run, which is taken up again from its stored positions once its cluster is up."""
        self._resume: list[tuple[str, str, TransferSpec, str]] = []
        with self.store.session() as s:
            specs = []
            for sub in submission_store.active(s):
                job = s.get(Job, sub.job_id) if sub.job_id is not None else None
                spec = None
                if job is not None:
                    try:
                        spec = self._build_spec(s, job, sub)
                    except CdmError:
                        pass
                if spec is not None and sub.status == st.RUNNING and self._permanent(spec):
                    self._resume.append((job.cluster_id, job.project_id, spec,
                                         position_store.job_key(job.cluster_id, job.name)))
                    continue
                submission_store.set_fields(
                    s, sub.id, status=st.FAILED, progress=-1.0,
                    error_summary="The opencdm server stopped while this run was in flight; the destination "
                                  "was left as it was before the run.",
                    error_details="WorkerLost: server restart")
                if spec is not None and sub.checkpoint:  # a resumable run: its staging waits for a resume
                    log.warning("recovered orphaned submission=%s job=%s: marked FAILED, staging kept for a resume",
                                sub.id, sub.job_name)
                elif spec is not None and sub.sub_jobs:  # an entire-database run: each table's staging
                    for n, table in enumerate(sub.sub_jobs):
                        if table.get("status") not in ("SUCCEEDED", "FAILED"):
                            try:
                                specs.append(sub_spec(spec, n, table["name"]))
                            except CdmError:
                                pass
                elif spec is not None:
                    specs.append(spec)
        for spec in specs:
            log.warning("recovered orphaned submission=%s job=%s: marked FAILED", spec.submission_id, spec.job_name)
            self._lifecycle.submit(self._abort_orphan, spec)

    @staticmethod
    def _permanent(spec: TransferSpec) -> bool:
        try:
            return connectors.get(spec.from_.connector).extractor(spec.from_.link, spec.from_.job, spec.ctx).permanent
        except Exception:
            return False

    def _take_up(self) -> None:
        """Permanent stream runs a restart interrupted: staging dropped, then run on from stored positions."""
        for item in getattr(self, "_resume", []):
            self._lifecycle.submit(self._take_up_one, *item)
        self._resume = []

    def _take_up_one(self, cluster_id: str, project_id: str, spec: TransferSpec, job_key: str) -> None:
        self._abort_orphan(spec)
        deadline = time.monotonic() + 60  # clusters come up in the background
        while (rt := self.runtimes.get(cluster_id)) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        sink = _StoreSink(self.store, spec, project_id, job_key)
        if rt is None:
            sink.finished(False, Counters(), CdmError("The cluster of this permanent run is not running."))
            return
        log.warning("resuming permanent submission=%s job=%s from its stored positions", spec.submission_id,
                    spec.job_name)
        runner = Runner(dataclasses.replace(spec, resumed=True), rt.backend, sink,
                        report_every=self.settings.progress_interval_seconds)
        self._enqueue(rt, runner)

    def _abort_orphan(self, spec: TransferSpec) -> None:
        try:
            connectors.get(spec.to.connector).loader(spec.to.link, spec.to.job, spec.ctx, spec.run_id).abort()
        except Exception:
            log.exception("could not drop staging of orphaned submission=%s", spec.submission_id)

    def shutdown(self) -> None:
        self.scheduler.shutdown()
        self.runtimes.shutdown()
        self._lifecycle.shutdown(wait=False, cancel_futures=True)

    # -- clusters (see engine.runtimes) -------------------------------------------------------------

    def bring_up(self, cluster_id: str, flavor_id: str, *, via: str | None = None) -> None:
        self.runtimes.bring_up(cluster_id, flavor_id, via=via)

    def stop_cluster(self, cluster_id: str, *, drain: float | None = 0) -> None:
        self.runtimes.stop(cluster_id, drain=drain)

    def restart_cluster(self, cluster_id: str, flavor_id: str, *, delay: float = 0, drain: float | None = 0) -> None:
        self.runtimes.restart(cluster_id, flavor_id, delay=delay, drain=drain)

    def forget_cluster(self, cluster_id: str) -> None:
        self.runtimes.forget(cluster_id)

    # -- runs --------------------------------------------------------------------------------------

    def _build_spec(self, s, job: Job, sub: Submission, reference: datetime | None = None) -> TransferSpec:
        """The run's plain description; macros and the start's variables expanded with ``reference``
        (a scheduled run's planned time; by default when the submission was started)."""
        ctx = self.context(job.project_id)
        when = reference or datetime.fromtimestamp(sub.execute_date / 1000, UTC)
        variables = {str(k): str(v) for k, v in (sub.variables or {}).items()}

        def inputs(connector: str, config: dict) -> dict:
            return expand.expand(connectors.get(connector), flat_inputs(config), when, variables, ctx.timezone)

        from_link = link_store.get(s, job.project_id, job.cluster_id, job.from_link)
        to_link = link_store.get(s, job.project_id, job.cluster_id, job.to_link)
        driver = flat_inputs(job.driver_config)
        options = DriverOptions.parse(driver)
        dirty_link = str(driver.get("throttlingConfig.writeToLink") or "").strip()
        dirty_target = None
        if dirty_link and str(driver.get("throttlingConfig.recordDirtyData")).lower() == "true":
            row = link_store.get(s, job.project_id, job.cluster_id, dirty_link)
            dirty_target = (row.connector_name, self._inputs(row))
        return TransferSpec(
            submission_id=sub.id, run_id=f"{sub.id}", job_name=job.name,
            from_=EndSpec(job.from_connector, self._inputs(from_link), inputs(job.from_connector, job.from_config)),
            to=EndSpec(job.to_connector, self._inputs(to_link), inputs(job.to_connector, job.to_config)),
            ctx=ctx, num_extractors=options.num_extractors, rows_per_s=options.rows_per_s,
            bytes_per_s=options.bytes_per_s,
            dirty=dirty_spec(driver, ctx, dirty_target, job.name),
        )

    def _inputs(self, row) -> dict:
        return link_store.unsealed_inputs(row, self.box, connectors.get(row.connector_name).sensitive_inputs)

    def start_run(self, s, cluster: Cluster, job: Job, user: str, variables: dict | None = None, *,
                  planned: datetime | None = None, resume: bool = False) -> Submission:
        """Create a BOOTING submission for ``job`` in session ``s``; the run is queued once ``s`` commits.
        ``planned``: the planned time of a run the scheduler starts (``is-execute-auto``, and the
        reference time of its macros). Unknown variables or bad macros raise InvalidInput (a 400)."""
        cluster_store.require_running(cluster)
        rt = self.runtimes.get(cluster.id)
        if rt is None:  # being stopped or restarted right now
            raise InvalidInput(f"Cluster [{cluster.id}] is not running; start it before running jobs.",
                               code="Cdm.0037")
        if submission_store.active_for_job(s, job.id) is not None:
            raise Conflict(f"Job {job.name} is running.", code="Cdm.0052")
        options = DriverOptions.parse(flat_inputs(job.driver_config))
        for connector, config in ((job.from_connector, job.from_config), (job.to_connector, job.to_config)):
            expand.check(connectors.get(connector), flat_inputs(config), {str(k): str(v) for k, v in
                                                                          (variables or {}).items()})
        taken_up = self._kept_run(s, job, resume)
        sub = submission_store.create(s, job, user, variables or {}, delete_job=options.disposable != "NONE",
                                      auto=planned is not None)
        spec = self._build_spec(s, job, sub, planned)
        if spec.dirty.enabled and not spec.dirty.link_connector and dask_address(cluster.settings):
            raise InvalidInput("On a Dask cluster dirty data needs throttlingConfig.writeToLink: the workers "
                               "share no files with the server, so a dirty-data file would land on a worker's "
                               "disk.", code="Cdm.0014")
        if options.resumable:
            spec = dataclasses.replace(spec, resumable=True,
                                       run_id=taken_up.run_id if taken_up is not None else spec.run_id)
        attempts = Attempts(_StoreSink(self.store, spec, job.project_id,
                                       position_store.job_key(job.cluster_id, job.name)), options.retries)
        every = self.settings.progress_interval_seconds

        def make(resumed: Resume | None = None) -> Runner | BatchRunner:
            if job.job_type == "BATCH_JOB":
                return BatchRunner(spec, rt.backend, attempts, options.concurrent_sub_jobs, report_every=every)
            return Runner(spec, rt.backend, attempts, report_every=every, resume=resumed)

        runner = make(taken_up)
        s.info.setdefault("after_commit", []).append(
            lambda: self._enqueue(rt, runner, make, attempts, options.disposable))
        return sub

    def _kept_run(self, s, job: Job, resume: bool) -> Resume | None:
        """The job's last run when it failed and kept its staging (``throttlingConfig.resumable``): with
        ``resume`` the run to take up; otherwise its staging is dropped now, as it will never be used."""
        last = submission_store.latest(s, job.id)
        kept = last.checkpoint if last is not None and last.status == st.FAILED else None
        if resume and not kept:
            raise InvalidInput(f"Job {job.name} has no failed or stopped run to resume (resuming needs "
                               "throttlingConfig.resumable=true and a run that kept its staging).", code="Cdm.0014")
        if not kept:
            return None
        last.checkpoint = None
        if resume:
            return Resume.of(last.id, kept)
        stale = dataclasses.replace(self._build_spec(s, job, last), run_id=kept["run_id"])
        s.info.setdefault("after_commit", []).append(lambda: self._lifecycle.submit(self._abort_orphan, stale))
        return None

    def drop_kept_run(self, s, job: Job) -> None:
        """The job goes: the staging its last failed resumable run kept goes too."""
        try:
            self._kept_run(s, job, resume=False)
        except CdmError:  # its links are gone: nothing can be reached to drop
            log.warning("could not drop the kept staging of job=%s", job.name)

    def _start_planned(self, s, cluster: Cluster, job: Job, planned: datetime) -> None:
        """The scheduler's starter: a run of ``job`` for its planned time, started by the job's owner."""
        if cluster is None:
            raise InvalidInput("The job's cluster is gone.", code="Cdm.0037")
        self.start_run(s, cluster, job, job.creation_user, planned=planned)

    def _enqueue(self, rt: ClusterRuntime, runner: Runner | BatchRunner, make=None, attempts: Attempts | None = None,
                 disposable: str = "NONE") -> None:
        sid = runner.spec.submission_id
        rt.active[sid] = runner
        project = getattr(getattr(runner.sink, "sink", runner.sink), "project_id", None)

        def go() -> None:
            tokens = logs.bind(project_id=project, job=runner.spec.job_name, submission_id=sid)
            try:
                if attempts is not None:
                    run_attempts(runner, make, attempts, self.settings.retry_backoff_seconds,
                                 lambda again: rt.active.__setitem__(sid, again), sid)
                else:
                    runner.run()
            except BaseException:
                log.error("runner crashed submission=%s\n%s", sid, traceback.format_exc())
            finally:
                rt.active.pop(sid, None)
                if disposable != "NONE":
                    self._dispose(sid, disposable)
                logs.unbind(tokens)

        try:
            rt.runners.submit(go)
        except RuntimeError:  # the cluster was stopped between commit and enqueue
            rt.active.pop(sid, None)
            runner.sink.finished(False, Counters(), CdmError("The cluster stopped before the run started."))

    def stop_run(self, submission_id: int) -> bool:
        """Cancel a run; True if it was known to this server (also on a cluster that is draining)."""
        for rt in self.runtimes.with_runs():
            runner = rt.active.get(submission_id)
            if runner is not None:
                runner.cancel()
                stopped = getattr(runner.sink, "stopped", None)  # a retry waiting for its turn
                if stopped is not None:
                    stopped.set()
                return True
        return False

    def _dispose(self, submission_id: int, mode: str) -> None:
        """``disposableType``: delete the job after its run (``DELETE``) or after a successful one
        (``DELETE_AFTER_SUCCEED``). The submission is detached from the job first, so it stays readable."""
        try:
            with self.store.session() as s:
                sub = s.get(Submission, submission_id)
                job = s.get(Job, sub.job_id) if sub is not None and sub.job_id is not None else None
                if job is None or (mode == "DELETE_AFTER_SUCCEED" and sub.status != st.SUCCEEDED):
                    return
                sub.job_id = None
                s.flush()
                position_store.forget(s, job.project_id, position_store.job_key(job.cluster_id, job.name))
                s.delete(job)
            log.info("job deleted after its run (disposableType=%s) submission=%s job=%s", mode, submission_id,
                     sub.job_name)
        except Exception:
            log.exception("could not delete the job of submission=%s (disposableType=%s)", submission_id, mode)

    def wait_idle(self, timeout: float = 60) -> None:
        """Test helper: block until no run is active."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(rt.active for rt in self.runtimes.with_runs()):
                return
            time.sleep(0.05)
