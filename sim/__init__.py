"""natsim: a discrete-event simulator of NATS messaging networks.

Public API::

    import sim
    scenario = sim.load_scenario("scenarios/cluster-pubsub.yaml")
    result = sim.run(scenario, seed=7)        # DataFrames as attributes
    result.deliveries, result.drops, result.requests
    sim.summary(result)                       # the table ``natsim run`` prints
"""

from sim.analysis.summary import summary
from sim.errors import NatsimError, ScenarioError, SimulationError
from sim.results import Result
from sim.runner import simulate
from sim.scenario import Scenario, load_scenario

run = simulate

__all__ = [
    "NatsimError",
    "Result",
    "Scenario",
    "ScenarioError",
    "SimulationError",
    "load_scenario",
    "run",
    "simulate",
    "summary",
]
