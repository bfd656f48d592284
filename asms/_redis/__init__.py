"""Redis, for what several processes of one account share (the distributed mode).

The rest of asms meets Redis only through this package: :mod:`.connection` is the one module
that imports coredis (when a connection is opened, so ``import asms`` never does),
:mod:`.keys` names every key, :mod:`.scripts` holds the Lua, and :mod:`.ratelimit` is the
shared rate limiter, :class:`asms.RedisRateLimiter`.
"""
