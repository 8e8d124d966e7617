"""The synthetic ICS generator (``ics synth``): a calibrated population on a real ICB footprint,
with five years of linked primary, hospital, community, mental-health and social care, finance,
contracts and workforce, written as the input layer (see docs/synthetic-ics.md)."""

from __future__ import annotations

__all__ = ["SynthConfig", "generate"]


def __getattr__(name: str):
    if name in __all__:
        from integrated_care.synth import generator

        return getattr(generator, name)
    raise AttributeError(name)
