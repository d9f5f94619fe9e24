"""The IDMS: SCADA, the network operations model, outage management and reliability, run against
the outside world only through :mod:`twin.idms.interfaces` (never the world's own modules)."""
