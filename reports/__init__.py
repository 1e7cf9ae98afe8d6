"""Jinja2 templates of the reports (``templates/*.j2``), shipped as package data."""

from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
