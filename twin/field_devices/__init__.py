"""Field devices of the simulated world: protection that trips, reclosers, fuses, sectionalisers."""
