"""The Lua scripts of the shared rate limiter.

Times are integer microseconds of Redis's own clock (``TIME``), never a client's: every
process then keeps one schedule whatever its clock says. Integers stay exact in Lua's doubles
(about 1.8e15 µs, below 2^53); they are written with ``%d`` (a number handed to ``redis.call``
could come out in exponent form) and returned as integers (Redis truncates a returned
fraction). No script calls ``redis.replicate_commands()``: Redis 7 replicates effects anyway.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CLAIM_RATE", "CONFIRM", "PAUSE", "RATE", "RELEASE", "RESERVE"]

CLAIM_RATE: Final = """
-- KEYS: limit   ARGV: rate, burst, replace ('1': store ours whatever is there)
-- The account's rate and burst: stored by the first limiter, returned to every later one.
local stored = redis.call('HMGET', KEYS[1], 'rate', 'burst')
if ARGV[3] == '1' or not stored[1] then
  redis.call('HSET', KEYS[1], 'rate', ARGV[1], 'burst', ARGV[2])
  return {ARGV[1], ARGV[2]}
end
return {stored[1], stored[2] or ''}
"""

RATE: Final = """
-- KEYS: limit
-- The account's stored rate and burst ({false, false} when none is stored): read only.
return redis.call('HMGET', KEYS[1], 'rate', 'burst')
"""

PAUSE: Final = """
-- KEYS: pause   ARGV: ahead_us
-- ERR 130 met by one process: nobody is granted a slot before Redis's now + ahead. A pause
-- only ever grows (several processes may report one ERR 130, each a little differently).
-- Replies {pause, now}: the pause now stored, and Redis's clock.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ahead = tonumber(ARGV[1])
local pause = tonumber(redis.call('GET', KEYS[1]) or 0)
if now + ahead > pause then
  pause = now + ahead
  redis.call('SET', KEYS[1], string.format('%d', pause), 'PX', math.ceil(ahead / 1000) + 1000)
end
return {pause, now}
"""

RESERVE: Final = """
-- KEYS: tat, pause, limit
-- ARGV: interval_us, tokens, tolerance_us, max_wait_us, rate, burst
-- Books `tokens` consecutive slots unless the first would be more than max_wait ahead.
-- Replies {1, wait, now, pause, reserved, previous}: booked, the last slot is `wait` µs
-- from now; {0, excess, now, pause}: booked nothing, try again `excess` µs later;
-- {-1, rate, burst}: the account's stored rate differs from ours.
local stored = redis.call('HMGET', KEYS[3], 'rate', 'burst')
if not stored[1] then
  redis.call('HSET', KEYS[3], 'rate', ARGV[5], 'burst', ARGV[6])
elseif stored[1] ~= ARGV[5] or stored[2] ~= ARGV[6] then
  return {-1, stored[1], stored[2] or ''}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tokens = tonumber(ARGV[2])
local pause = tonumber(redis.call('GET', KEYS[2]) or 0)
local previous = redis.call('GET', KEYS[1])
local start = math.max(now, pause, tonumber(previous or 0))
local max_wait = tonumber(ARGV[4])
if start - now > max_wait then
  return {0, start - now - max_wait, now, pause}
end
local due = math.max(start + (tokens - 1) * interval - tonumber(ARGV[3]), now, pause)
local reserved = start + tokens * interval
redis.call('SET', KEYS[1], string.format('%d', reserved),
           'PX', math.ceil((reserved - now) / 1000) + 1000)
return {1, due - now, now, pause, reserved, previous or ''}
"""

CONFIRM: Final = """
-- KEYS: pause   ARGV: due (µs)
-- After sleeping until a slot: the pause if one began meanwhile that covers it, else 0.
local pause = tonumber(redis.call('GET', KEYS[1]) or 0)
if pause > tonumber(ARGV[1]) then
  return pause
end
return 0
"""

RELEASE: Final = """
-- KEYS: tat   ARGV: reserved, previous ('' when there was no schedule)
-- A cancelled wait gives its slots back, but only if nobody booked after it.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
end
return 1
"""
