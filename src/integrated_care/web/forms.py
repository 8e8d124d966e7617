"""Page forms: a posted form read as the same input model the JSON API takes, and the redirect
after a successful post (post/redirect/get, so a refresh does not post twice)."""

from __future__ import annotations

from typing import TypeVar

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


async def form_as(request: Request, model: type[M]) -> M:
    """A page form's fields as the API's input model (blank fields and the CSRF token left
    out); 422 naming each field that is wrong."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if k != "csrf_token" and v != ""}
    try:
        return model.model_validate(fields)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())
        raise HTTPException(422, problems) from None


def see_other(path: str) -> RedirectResponse:
    """Redirect after a successful post."""
    return RedirectResponse(path, status_code=303)
