"""Projects: the rules and the transactions. No FastAPI here: the router calls this."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.project import Project
from app.services.audit.service import AuditContext, AuditService
from app.utils.errors import NotFound


class ProjectService:
    def __init__(self, db: AsyncSession) -> None:
        self._db = db
        self._audit = AuditService(db)

    async def created_by(self, user_id: str) -> Sequence[Project]:
        query = (
            select(Project)
            .where(Project.created_by == user_id)
            .order_by(Project.created_at, Project.id)
        )
        return (await self._db.scalars(query)).all()

    async def create(self, context: AuditContext, organization_id: str, name: str) -> Project:
        project = Project(organization_id=organization_id, name=name, created_by=context.actor_id)
        self._db.add(project)
        await self._db.flush()  # the id, for the audit row
        self._audit.record(context, "project.create", project.id, {"name": name})
        await self._db.commit()  # the service owns the transaction: row and audit row together
        return project

    async def delete(self, context: AuditContext, project_id: str) -> None:
        project = await self._db.get(Project, project_id)
        if project is None:
            raise NotFound("no such project", code="PROJECT_NOT_FOUND")
        await self._db.delete(project)
        self._audit.record(context, "project.delete", project_id, {"name": project.name})
        await self._db.commit()
