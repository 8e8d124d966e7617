"""Public population figures: the JSON twin of the home page's population section."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from integrated_care.health.population import PopulationProfile, population_profile, suppress

router = APIRouter()


@router.get(
    "/api/population",
    tags=["population"],
    summary="Registered population by age and sex, place and deprivation (public; 1-9 suppressed)",
    response_model=PopulationProfile,
)
def population_api(request: Request) -> PopulationProfile:
    profile = population_profile(request.app.state.runtime.settings)
    if profile is None:
        raise HTTPException(404, "No population has been loaded: run `ics demo` or `ics load DIR`.")
    public = profile.model_copy(deep=True)
    for row in public.by_age_sex:
        row.registered = suppress(row.registered or 0)
    return public
