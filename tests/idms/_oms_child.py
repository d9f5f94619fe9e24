"""The IDMS that test_oms_on_world kills: a session on a generated territory with its outage store
in a file, permanent faults injected, the world run minute by minute, the protective-trip alarms
and some of the 'local control' alarms acknowledged by a trainee. After each minute (when the
outage manager and the alarm list have committed what they did) it prints one JSON line:
``{"t": ..., "records": [outage record ids], "acknowledged": [alarm ids acknowledged and still
listed]}``. It never ends by itself: the test kills it with SIGKILL.

    python tests/idms/_oms_child.py STORE_PATH TERRITORY_SEED
"""

from __future__ import annotations

import json
import logging
import sys
import time

import numpy as np

from twin.session import build_session
from twin.world.physics import Fault
from twin.world.territory import generate_territory

FAULTS = (("S01-F1-RCL", 300.0), ("S01-F2-FU005", 600.0), ("S01-F2-RCL", 1200.0), ("S01-F1-FU002", 2400.0))
"""(protective device, when): a permanent fault on the first line below each."""


def line_below(net, device: str) -> str:
    sw = net.switch
    return str(net.line.ids[np.flatnonzero(net.line["from_bus"] == sw["to_bus"][sw.position(device)])[0]])


def main(path: str, seed: int) -> None:
    logging.disable(logging.WARNING)
    net = generate_territory(2000, seed=seed)
    session = build_session(net, hours=24.0, seed=1, store=path, dispatcher=False)
    world, idms = session.world, session.idms
    for device, at in FAULTS:
        world.inject(Fault(line_below(net, device), permanent=True), at_s=at)
    t = 0.0
    while t < 24 * 3600.0:
        t += 60.0
        world.run_to(t)
        for alarm in idms.scada.alarms.alarms():
            if not alarm.acknowledged and (alarm.priority == 1 or (alarm.code == "local"
                                                                   and int(alarm.id[1:]) % 3 == 0)):
                idms.scada.acknowledge(alarm.id, "trainee")
        acknowledged = [a.id for a in idms.scada.alarms.alarms() if a.acknowledged]
        print(json.dumps({"t": t, "records": [r.id for r in idms.oms.records], "acknowledged": acknowledged}),
              flush=True)
    while True:  # wait to be killed
        time.sleep(1.0)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
