"""Scenario layer: the schema (:mod:`.spec`) and the loader (:mod:`.load`)."""

from sim.scenario.load import load_scenario
from sim.scenario.spec import Scenario

__all__ = ["Scenario", "load_scenario"]
