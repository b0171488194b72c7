"""Projects over HTTP. Thin, as every router here is: parse, call the service, map to a schema."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from app.routers.deps import AuditContextDep, CurrentUser, DbSession, require_permission
from app.routers.org_deps import require_org_permission
from app.routers.responses import no_content, problem_responses
from app.schemas.base import InputText
from app.schemas.project import ProjectCreate, ProjectList, ProjectRead
from app.services.auth.snapshots import UserSnapshot
from app.services.organizations.snapshots import Membership
from app.services.projects.service import ProjectService

router = APIRouter(tags=["projects"], responses=problem_responses(401, 403, 422, 503))

# An organization permission: the caller's role in the organization of the path must grant it.
CanCreateProjects = Annotated[
    Membership, Depends(require_org_permission({"project": ["create"]}, from_path=True))
]
# A permission of the admin plugin's access control: the caller's own role(s) must grant it.
CanDeleteProjects = Annotated[UserSnapshot, Depends(require_permission({"project": ["delete"]}))]


async def get_project_service(db: DbSession) -> ProjectService:
    return ProjectService(db)


ProjectsDep = Annotated[ProjectService, Depends(get_project_service)]
OrganizationId = Annotated[InputText, Path(alias="organizationId", max_length=255)]
ProjectId = Annotated[InputText, Path(alias="projectId", max_length=255)]


@router.get("/projects", summary="The projects I created")
async def list_my_projects(user: CurrentUser, projects: ProjectsDep) -> ProjectList:
    mine = await projects.created_by(user.id)
    return ProjectList(projects=[ProjectRead.model_validate(project) for project in mine])


@router.post(
    "/organizations/{organizationId}/projects",
    status_code=201,
    summary="Create a project (needs the organization permission project: create)",
    responses=problem_responses(404),
)
async def create_project(
    organization_id: OrganizationId,
    body: ProjectCreate,
    membership: CanCreateProjects,
    projects: ProjectsDep,
    context: AuditContextDep,
) -> ProjectRead:
    project = await projects.create(context, membership.organization.id, body.name)
    return ProjectRead.model_validate(project)


@router.delete(
    "/projects/{projectId}",
    summary="Delete any project (needs project: delete)",
    **no_content(404),
)
async def delete_project(
    project_id: ProjectId,
    _caller: CanDeleteProjects,
    projects: ProjectsDep,
    context: AuditContextDep,
) -> None:
    await projects.delete(context, project_id)
