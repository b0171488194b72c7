"""Projects on the wire: camelCase, dates as Better-Auth writes them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from app.schemas.base import CamelModel, InputText, IsoDateTime


class ProjectCreate(CamelModel):
    name: Annotated[InputText, Field(min_length=1, max_length=200)]


class ProjectRead(CamelModel):
    id: str
    organization_id: str
    name: str
    created_by: str
    created_at: IsoDateTime


class ProjectList(CamelModel):
    projects: list[ProjectRead]
