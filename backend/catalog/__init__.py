"""The unified catalogue (联合编目): bibliographic records and the copies every library holds."""
