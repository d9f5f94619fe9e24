"""How the IDMS talks to the outside world: one module per interface (field devices, AMI
head-end, call centre, workforce) and the clock it runs on. Each is a :class:`typing.Protocol`
with plain-data messages; the world provides virtual implementations, a real utility its own
(the DNP3 issue adds one for field devices). Nothing here imports the world."""
