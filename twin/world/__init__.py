"""The simulated world built on the network model: territory, weather, field devices, crews, callers.

Modules here may use simpy and faker; :mod:`twin.grid` never imports them. Nothing is imported
eagerly, so ``import twin.world`` costs nothing; import what you use::

    from twin.world.territory import generate_territory

    net = generate_territory(20_000, seed=7)
"""
