"""The Lua scripts `BookState` (worker.books.state) runs in Redis: each step of the fan-in that must be atomic.

A chunk or chapter counts once (SADD answers whether it was new), and a script that may create a key gives
it the book hash's expiry, so a finished book's keys expire together and a late write cannot revive it.
"""

# Appended to scripts that may create a key: a finished book's new keys expire with it. KEYS[#KEYS]: book hash.
_SAME_EXPIRY = """
local ttl = redis.call('PTTL', KEYS[#KEYS])
if ttl > 0 then for i = 1, #KEYS - 1 do redis.call('PEXPIRE', KEYS[i], ttl) end end
"""

# KEYS: chapter done-set, chapter hash, book hash. ARGV: index, rendered (0/1), billed bytes, now.
CHUNK_DONE = (
    """
if redis.call('EXISTS', KEYS[3]) == 0 then return -2 end
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return -1 end
local remaining = redis.call('HINCRBY', KEYS[2], 'remaining', -1)
redis.call('HSET', KEYS[2], 'updated_at', ARGV[4])
redis.call('HINCRBY', KEYS[3], 'chunks_done', 1)
redis.call('HINCRBY', KEYS[3], ARGV[2] == '1' and 'chunks_rendered' or 'chunks_reused', 1)
redis.call('HINCRBY', KEYS[3], 'bytes_billed', tonumber(ARGV[3]))
redis.call('HSET', KEYS[3], 'updated_at', ARGV[4])
local state = redis.call('HGET', KEYS[3], 'state')
if state == 'queued' then redis.call('HSET', KEYS[3], 'state', 'rendering') end
"""
    + _SAME_EXPIRY
    + """
return remaining
"""
)

# KEYS: chapter done-set, chapter hash, book hash. ARGV: index. Undoes one completion (its audio was lost).
CHUNK_UNDONE = """
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'remaining', 1)
redis.call('HINCRBY', KEYS[3], 'chunks_done', -1)
return 1
"""

# KEYS: chapters-done set, book hash. ARGV: chapter index, now.
CHAPTER_DONE = (
    """
if redis.call('EXISTS', KEYS[2]) == 0 then return -2 end
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return -1 end
redis.call('HSET', KEYS[2], 'updated_at', ARGV[2])
"""
    + _SAME_EXPIRY
    + """
return redis.call('HINCRBY', KEYS[2], 'chapters_remaining', -1)
"""
)

# KEYS: the hash to write (the book's or a chapter's), book hash. ARGV: field, value pairs.
UPDATE = (
    """
if redis.call('EXISTS', KEYS[#KEYS]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
"""
    + _SAME_EXPIRY
    + """
return 1
"""
)

# KEYS: active-books set, book hash, then every other key of the book. ARGV: book id, TTL seconds, field, value
# pairs. Only the first finish counts; a book whose hash is gone (expired, never made) stays gone.
FINISH = """
redis.call('SREM', KEYS[1], ARGV[1])
local state = redis.call('HGET', KEYS[2], 'state')
if not state or state == 'succeeded' or state == 'failed' then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
for i = 2, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
return 1
"""

# KEYS: active-books set, book hash, then every other key of the book. ARGV: book id, now.
REOPEN = """
local state = redis.call('HGET', KEYS[2], 'state')
if state ~= 'succeeded' and state ~= 'failed' then return 0 end
redis.call('HSET', KEYS[2], 'state', 'rendering', 'error', '', 'updated_at', ARGV[2])
redis.call('HDEL', KEYS[2], 'finished_at')
for i = 2, #KEYS do redis.call('PERSIST', KEYS[i]) end
redis.call('SADD', KEYS[1], ARGV[1])
return 1
"""
