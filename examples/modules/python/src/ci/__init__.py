"""Lint, build and test a small shell project"""

from .main import Ci as Ci
