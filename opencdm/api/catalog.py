"""``GET /v1.1/{project_id}/connectors`` (an opencdm extension): every connector's declared inputs.

A client builds its link and job forms from this answer instead of knowing each connector: per
connector the sides it can be (``directions``) and its ``link``, ``from`` and ``to`` input definitions
(``connectors.inputs.InputDef``), plus the job-level inputs every job takes (``job``).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from opencdm import connectors
from opencdm.api.deps import CallerDep
from opencdm.connectors.inputs import JOB_INPUTS

router = APIRouter(prefix="/v1.1/{project_id}", tags=["connectors"])


@router.get("/connectors")
def connector_catalog(project_id: str, caller: CallerDep) -> JSONResponse:
    """The registered connectors, sorted by name, with their input definitions."""
    out = []
    for name in connectors.names():
        c = connectors.get(name)
        out.append({"name": name, "directions": sorted(c.directions),
                    "link": [d.to_json() for d in c.link_inputs],
                    "from": [d.to_json() for d in c.from_inputs],
                    "to": [d.to_json() for d in c.to_inputs]})
    return JSONResponse({"connectors": out, "job": [d.to_json() for d in JOB_INPUTS]})
