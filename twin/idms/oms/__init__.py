"""Outage management: prediction rules, the device tree, outage records and their store, and the
manager that runs them (see :mod:`twin.idms.oms.manager`)."""
