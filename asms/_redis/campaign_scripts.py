"""The Lua scripts of campaigns: every change of a unit's state and of its campaign's counters
is one script, so Redis never holds one without the other.

A unit's hash holds ``state`` (``staged`` until its whole campaign is stored, then
``queued``, ``sending``, ``done``, ``dead``), ``attempt`` (the
fencing token: raised by every claim), ``owner`` and ``lease`` (integer µs of Redis's clock),
``deliveries`` (claims so far), ``n`` (its messages), ``payload`` and ``fp`` (what was
submitted), and one field ``r<index>`` per message whose row was written (the journal's row,
in JSON). A campaign's hash counts messages per state (``queued``, ``sending``, ``accepted``,
``rejected``, ``unknown``, ``dead``).

Every write by a worker is *fenced*: it applies only if the worker still owns the unit under
the attempt it claimed; a worker whose lease was taken over (a new attempt) can no longer
write, settle or extend. Times are Redis's ``TIME`` in integer µs, written with ``%d``.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BEAT",
    "CLAIM",
    "COMPLETE",
    "DEAD",
    "EXTEND",
    "FINISH_SUBMIT",
    "GATEWAY",
    "LET_GO",
    "QUEUE",
    "RELEASE_UNIT",
    "SETTLE",
    "SUBMIT",
    "WORKERS",
    "WRITE",
]

_NOW: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""

# Holds the campaign's submission (KEYS[1] the campaign; ARGV[1] the submission's token,
# ARGV[2] how long it holds, µs), or stops with -2 when another live submission holds it.
_SUBMITTER: Final = """
local holder = redis.call('HMGET', KEYS[1], 'submitter', 'submit_until')
if holder[1] and holder[1] ~= ARGV[1] and tonumber(holder[2] or 0) > now then
  return -2
end
redis.call('HSET', KEYS[1], 'submitter', ARGV[1],
           'submit_until', string.format('%d', now + tonumber(ARGV[2])))
"""

# Checks the fence (KEYS[1] the unit; ARGV[1] worker, ARGV[2] attempt) and stops with 0 when
# the unit is no longer this worker's.
_FENCE: Final = """
local held = redis.call('HMGET', KEYS[1], 'owner', 'attempt', 'state')
if held[1] ~= ARGV[1] or held[2] ~= ARGV[2] or held[3] ~= 'sending' then
  return 0
end
"""

SUBMIT: Final = (
    """
-- KEYS: campaign, campaigns, unit...   ARGV: token, hold_us, name, id, then per unit:
-- number, n, payload, fp
-- Stages the units not stored yet (queued only when the whole input is stored: QUEUE).
-- Replies the first unit stored with another fingerprint, -1 (none), or -2: another
-- submission of the campaign is under way.
"""
    + _NOW
    + _SUBMITTER
    + """
if redis.call('HSETNX', KEYS[1], 'id', ARGV[4]) == 1 then
  redis.call('HSET', KEYS[1], 'created', string.format('%d', now))
  redis.call('SADD', KEYS[2], ARGV[3])
end
-- Until a submission finished, nothing of it is queued: a new input may replace it.
local finished = redis.call('HEXISTS', KEYS[1], 'total') == 1
local differs = -1
for i = 3, #KEYS do
  local a = 5 + (i - 3) * 4
  local fp = redis.call('HGET', KEYS[i], 'fp')
  if fp and (finished or fp == ARGV[a + 3]) then
    if fp ~= ARGV[a + 3] and differs < 0 then differs = tonumber(ARGV[a]) end
  else
    redis.call('HSET', KEYS[i], 'state', 'staged', 'attempt', 0, 'deliveries', 0,
               'n', ARGV[a + 1], 'payload', ARGV[a + 2], 'fp', ARGV[a + 3])
  end
end
return differs
"""
)

QUEUE: Final = (
    """
-- KEYS: campaign, queue, unit...   ARGV: token, hold_us, name, then the units' numbers
-- Queues the staged units among these. Replies {units queued, messages queued}, or -2:
-- another submission holds the campaign.
"""
    + _NOW
    + _SUBMITTER
    + """
local units, messages = 0, 0
for i = 3, #KEYS do
  local u = redis.call('HMGET', KEYS[i], 'state', 'n')
  if u[1] == 'staged' then
    redis.call('HSET', KEYS[i], 'state', 'queued')
    redis.call('XADD', KEYS[2], '*', 'c', ARGV[3], 'u', ARGV[i + 1])
    redis.call('HINCRBY', KEYS[1], 'queued', u[2])
    units = units + 1
    messages = messages + tonumber(u[2])
  end
end
return {units, messages}
"""
)

FINISH_SUBMIT: Final = (
    """
-- KEYS: campaign   ARGV: token, hold_us, messages, units
-- Records the campaign's size once its whole input is stored. Replies 1, {messages, units}
-- already recorded when they differ, or -2: another submission holds the campaign.
"""
    + _NOW
    + _SUBMITTER
    + """
local known = redis.call('HMGET', KEYS[1], 'total', 'units')
if known[1] and (known[1] ~= ARGV[3] or known[2] ~= ARGV[4]) then
  return {known[1], known[2]}
end
redis.call('HSET', KEYS[1], 'total', ARGV[3], 'units', ARGV[4])
return 1
"""
)

COMPLETE: Final = (
    """
-- KEYS: campaign   ARGV: token, hold_us
-- Every unit is queued: the campaign is submitted, and its submission lets go. Replies 1,
-- or -2: another submission holds the campaign.
"""
    + _NOW
    + _SUBMITTER
    + """
redis.call('HSET', KEYS[1], 'complete', 1)
redis.call('HDEL', KEYS[1], 'submitter', 'submit_until')
return 1
"""
)

CLAIM: Final = (
    """
-- KEYS: unit, campaign   ARGV: worker, lease_us
-- Replies {'gone'} (no such unit), {'done'} (settled or dead), {'busy', µs left} (another
-- lease is live), or {'claimed', attempt, previous state, deliveries, owner before, the unit's
-- hash (field, value, ...)}.
"""
    + _NOW
    + """
local u = redis.call('HMGET', KEYS[1], 'state', 'lease', 'attempt', 'deliveries', 'n',
                     'payload', 'owner')
if not u[1] then return {'gone'} end
if u[1] == 'done' or u[1] == 'dead' then return {'done'} end
local lease = tonumber(u[2] or 0)
if u[1] == 'sending' and lease > now then
  return {'busy', string.format('%d', lease - now)}
end
local attempt = tonumber(u[3]) + 1
local deliveries = tonumber(u[4]) + 1
redis.call('HSET', KEYS[1], 'state', 'sending', 'owner', ARGV[1], 'attempt', attempt,
           'deliveries', deliveries, 'lease', string.format('%d', now + tonumber(ARGV[2])))
if u[1] == 'queued' then
  redis.call('HINCRBY', KEYS[2], 'queued', -tonumber(u[5]))
  redis.call('HINCRBY', KEYS[2], 'sending', tonumber(u[5]))
  redis.call('HSETNX', KEYS[2], 'first_sent', string.format('%d', now))
end
return {'claimed', attempt, u[1], deliveries, u[7] or '', redis.call('HGETALL', KEYS[1])}
"""
)

WRITE: Final = (
    """
-- KEYS: unit   ARGV: worker, attempt, lease_us, then field, value pairs (rows)
-- A fenced write of message rows, extending the lease. Replies 1, or 0: not ours any more.
"""
    + _FENCE
    + _NOW
    + """
redis.call('HSET', KEYS[1], 'lease', string.format('%d', now + tonumber(ARGV[3])),
           unpack(ARGV, 4))
return 1
"""
)

EXTEND: Final = (
    """
-- KEYS: unit, queue   ARGV: worker, attempt, lease_us, group, entry id, consumer
-- The owner's heartbeat: the lease and the entry's idle time start again. 1, or 0: not ours.
"""
    + _FENCE
    + _NOW
    + """
redis.call('HSET', KEYS[1], 'lease', string.format('%d', now + tonumber(ARGV[3])))
redis.call('XCLAIM', KEYS[2], ARGV[4], ARGV[6], 0, ARGV[5], 'JUSTID')
return 1
"""
)

SETTLE: Final = (
    """
-- KEYS: unit, campaign, queue   ARGV: worker, attempt, group, entry id, accepted, rejected,
-- unknown, then field, value pairs (rows)
-- The unit is done: its rows, the campaign's counters, and its entry acked and deleted, in
-- one step. Replies 1, or 0: not ours any more (nothing written).
"""
    + _FENCE
    + _NOW
    + """
local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
if #ARGV > 7 then redis.call('HSET', KEYS[1], unpack(ARGV, 8)) end
redis.call('HSET', KEYS[1], 'state', 'done', 'lease', 0)
redis.call('HINCRBY', KEYS[2], 'sending', -n)
redis.call('HINCRBY', KEYS[2], 'accepted', ARGV[5])
redis.call('HINCRBY', KEYS[2], 'rejected', ARGV[6])
redis.call('HINCRBY', KEYS[2], 'unknown', ARGV[7])
redis.call('HSET', KEYS[2], 'last_settled', string.format('%d', now))
redis.call('XACK', KEYS[3], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[3], ARGV[4])
return 1
"""
)

DEAD: Final = (
    """
-- KEYS: unit, campaign, queue, dead   ARGV: worker, attempt, group, entry id, accepted,
-- rejected, unknown, dead, reason, campaign name, unit number, then field, value pairs (rows)
-- The unit goes to the dead-letter stream with its reason; its settled messages are counted
-- as they settled, the rest as dead. Replies 1, or 0: not ours any more.
"""
    + _FENCE
    + _NOW
    + """
local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
if #ARGV > 11 then redis.call('HSET', KEYS[1], unpack(ARGV, 12)) end
redis.call('HSET', KEYS[1], 'state', 'dead', 'lease', 0, 'reason', ARGV[9])
redis.call('HINCRBY', KEYS[2], 'sending', -n)
redis.call('HINCRBY', KEYS[2], 'accepted', ARGV[5])
redis.call('HINCRBY', KEYS[2], 'rejected', ARGV[6])
redis.call('HINCRBY', KEYS[2], 'unknown', ARGV[7])
redis.call('HINCRBY', KEYS[2], 'dead', ARGV[8])
redis.call('HSET', KEYS[2], 'last_settled', string.format('%d', now))
redis.call('XADD', KEYS[4], '*', 'c', ARGV[10], 'u', ARGV[11], 'reason', ARGV[9])
redis.call('XACK', KEYS[3], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[3], ARGV[4])
return 1
"""
)

RELEASE_UNIT: Final = (
    """
-- KEYS: unit, campaign, queue   ARGV: worker, attempt, group, entry id, consumer, idle_ms,
-- untouched ('1': no request of it may have left)
-- Hands a unit back: its lease ends now and its entry looks idle, so the next reclaim takes it
-- at once; an untouched unit is queued again. Replies 1, or 0: not ours any more.
"""
    + _FENCE
    + """
if ARGV[7] == '1' then
  local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
  redis.call('HSET', KEYS[1], 'state', 'queued', 'lease', 0)
  redis.call('HINCRBY', KEYS[2], 'sending', -n)
  redis.call('HINCRBY', KEYS[2], 'queued', n)
else
  redis.call('HSET', KEYS[1], 'lease', 0)
end
redis.call('XCLAIM', KEYS[3], ARGV[3], ARGV[5], 0, ARGV[4], 'IDLE', ARGV[6], 'JUSTID')
return 1
"""
)

BEAT: Final = (
    """
-- KEYS: workers   ARGV: worker, ttl_ms ('0': the worker leaves)
-- A worker's heartbeat; the expired ones are dropped.
"""
    + _NOW
    + """
local ms = math.floor(now / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if ARGV[2] == '0' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[1])
end
return 1
"""
)

WORKERS: Final = (
    """
-- KEYS: workers   Replies {live workers, now µs}.
"""
    + _NOW
    + """
return {redis.call('ZCOUNT', KEYS[1], math.floor(now / 1000), '+inf'), string.format('%d', now)}
"""
)

GATEWAY: Final = """
-- KEYS: limit   ARGV: gateway
-- The gateway the account's workers send through: stored by the first, returned to the rest.
redis.call('HSETNX', KEYS[1], 'gateway', ARGV[1])
return redis.call('HGET', KEYS[1], 'gateway')
"""

LET_GO: Final = """
-- KEYS: campaign   ARGV: token
-- A submission that stopped lets go of the campaign (if it still holds it).
if redis.call('HGET', KEYS[1], 'submitter') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'submitter', 'submit_until')
end
return 1
"""
