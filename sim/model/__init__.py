"""The simulated world: servers, routes, clients and the interest they hold."""
