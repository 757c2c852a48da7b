"""CX programmes a scenario switches on. Each has a start, a ramp, an optional end, costs, and
effects on named config keys of other modules (see base.py); families with extra mechanics
subclass the base (campaign.py). ``registry.KINDS`` maps a config's ``kind`` to its class."""
