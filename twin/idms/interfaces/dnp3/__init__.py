"""DNP3 (IEEE 1815) for the field-device interface: the points map both ends share
(:mod:`.points`) and the protocol stack behind a small interface of our own (:mod:`.stack`)."""
