"""``ics synth``: write a synthetic ICS as the input layer (register with ``register(app)``)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)


def synth(
    icb: str = typer.Option(..., "--icb", help="ICB ODS code, e.g. QK1 (see `ics footprint`)."),
    out: Path = typer.Option(..., "--out", help="Folder to write the input-layer tables to."),
    population: int = typer.Option(
        0, "--population", help="Number of people (default: the ICB's ONS mid-2022 population)."
    ),
    years: int = typer.Option(5, "--years", min=1, max=10, help="Financial years of care."),
    seed: int = typer.Option(1, "--seed", help="Random seed: the same seed gives the same bytes."),
    report: bool = typer.Option(False, "--report", help="Print the calibration report after."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Build a synthetic ICS on the real footprint of an ICB: people, conditions, five years of
    linked care, finance, contracts and workforce, as Parquet in the input-layer shape."""
    from rich.console import Console

    from integrated_care.synth.generator import SynthConfig, generate
    from integrated_care.synth.report import calibration_report, render

    console = Console()
    cfg = SynthConfig(icb=icb.upper(), out=out, population=population or None, years=years,
                      seed=seed)  # fmt: skip
    result = generate(cfg, show_progress=not quiet)
    console.print(
        f"Wrote {result.total_rows:,} rows for {result.people:,} people to {out} in "
        f"{result.seconds:.1f} s ({result.people / result.seconds:,.0f} people/s, "
        f"{result.total_rows / result.seconds:,.0f} rows/s, peak memory "
        f"{result.peak_memory_mb:,.0f} MB)"
    )
    if report:
        render(calibration_report(out, cfg.icb), console)
