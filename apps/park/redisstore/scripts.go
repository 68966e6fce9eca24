package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts below are the store's atomic operations: Redis runs each
// one alone, so two nodes allocating at the same instant get two orbits and
// exactly one of many claimers wins. Every script that reads the pool
// checks the meta key first: missing means a fresh or emptied Redis
// ("NOMETA": the caller runs initScript and retries), a different pool
// signature means nodes configured with different orbits ("POOL").
//
// Keys (all under one hash tag, so they share a cluster slot):
//
//	meta      signature of the orbit pool and policy, "|", epoch
//	recover   present while parks are refused after a data loss
//	orbits    hash: pool index -> entry JSON (t token, c Call-ID,
//	          pr parker, pd parked, s since in Unix ns, n owner node)
//	calls     hash: Call-ID -> pool index
//	tokens    hash: safe-retrieve token -> pool index
//	last      the pool index NextFree allocated last
//	nodes     set of the nodes that have parked calls
//	node:<id> a node's heartbeat, with a TTL; its value is the node's SIP
//	          address (Config.Address)
//
// Channel "changes" (pub/sub, not a key) carries "<origin>|<pool index>"
// after each change of an orbit, published by the script that made it
// (the sweep and restores publish from Go): origin is the node whose
// operation it was, or empty for the liveness sweep and restores.
const metaCheck = `
local m = redis.call('GET', KEYS[1])
if not m then return {'NOMETA'} end
if string.sub(m, 1, #ARGV[1] + 1) ~= ARGV[1] .. '|' then return {'POOL', m} end
`

// initScript creates the meta key with a new epoch if it is missing, and
// then refuses parks for the recovery window (ms) while live nodes put
// back the calls they hold. It returns the meta value in force.
// KEYS: meta, recover. ARGV: signature|epoch, window ms.
var initScript = redis.NewScript(`
local m = redis.call('GET', KEYS[1])
if m then return m end
redis.call('SET', KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
end
return ARGV[1]
`)

// allocateScript parks an entry.
// KEYS: meta, orbits, calls, tokens, last, nodes, recover.
// ARGV: signature, node, policy, pool size, directed index or -1, token,
// entry JSON, Call-ID, change channel.
var allocateScript = redis.NewScript(metaCheck + `
if redis.call('EXISTS', KEYS[7]) == 1 then return {'RECOVERING'} end
local cur = redis.call('HGET', KEYS[3], ARGV[8])
if cur then return {'DOUBLE', cur} end
if redis.call('HEXISTS', KEYS[4], ARGV[6]) == 1 then return {'DUPTOKEN'} end
local size = tonumber(ARGV[4])
local i = tonumber(ARGV[5])
if i >= 0 then
  if redis.call('HEXISTS', KEYS[2], ARGV[5]) == 1 then return {'BUSY'} end
else
  if redis.call('HLEN', KEYS[2]) >= size then return {'FULL'} end
  local start = 0
  if ARGV[3] == 'next' then
    start = (tonumber(redis.call('GET', KEYS[5]) or '-1') + 1) % size
  end
  -- At most one step per parked call: every busy orbit is skipped once.
  for k = 0, size - 1 do
    local j = (start + k) % size
    if redis.call('HEXISTS', KEYS[2], tostring(j)) == 0 then i = j break end
  end
  if i < 0 then return {'FULL'} end
  redis.call('SET', KEYS[5], tostring(i))
end
local f = tostring(i)
redis.call('HSET', KEYS[2], f, ARGV[7])
redis.call('HSET', KEYS[3], ARGV[8], f)
redis.call('HSET', KEYS[4], ARGV[6], f)
redis.call('SADD', KEYS[6], ARGV[2])
if ARGV[9] then redis.call('PUBLISH', ARGV[9], ARGV[2] .. '|' .. f) end
return {'OK', f}
`)

// claimScript removes and returns the entry at an index; a non-empty token
// must match, and with a node id the entry must be held by that node (else
// it returns ELSEWHERE and the owner, and changes nothing).
// KEYS: meta, orbits, calls, tokens. ARGV: signature, index, token, node
// or "", change channel, origin.
var claimScript = redis.NewScript(metaCheck + `
local v = redis.call('HGET', KEYS[2], ARGV[2])
if not v then return {'EMPTY'} end
local e = cjson.decode(v)
if ARGV[3] ~= '' and e.t ~= ARGV[3] then return {'SAFE'} end
if ARGV[4] and ARGV[4] ~= '' and e.n ~= ARGV[4] then return {'ELSEWHERE', e.n} end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], e.c)
redis.call('HDEL', KEYS[4], e.t)
if ARGV[5] then redis.call('PUBLISH', ARGV[5], ARGV[6] .. '|' .. ARGV[2]) end
return {'OK', v}
`)

// releaseScript frees the index if it holds the park with this token; with
// index "" it finds the index by token. Returns 1 if it freed.
// KEYS: meta, orbits, calls, tokens. ARGV: signature, index or "", token,
// change channel, origin.
var releaseScript = redis.NewScript(metaCheck + `
local i = ARGV[2]
if i == '' then
  i = redis.call('HGET', KEYS[4], ARGV[3])
  if not i then return {'OK', 0} end
end
local v = redis.call('HGET', KEYS[2], i)
if not v then return {'OK', 0} end
local e = cjson.decode(v)
if ARGV[3] == '' or e.t ~= ARGV[3] then return {'OK', 0} end
redis.call('HDEL', KEYS[2], i)
redis.call('HDEL', KEYS[3], e.c)
redis.call('HDEL', KEYS[4], e.t)
if ARGV[4] then redis.call('PUBLISH', ARGV[4], ARGV[5] .. '|' .. i) end
return {'OK', 1}
`)

// replaceScript makes an index hold a new entry instead of the park with
// the old token, without freeing it in between.
// KEYS: meta, orbits, calls, tokens, nodes. ARGV: signature, index, old
// token, new token, entry JSON, Call-ID, node, change channel.
var replaceScript = redis.NewScript(metaCheck + `
local v = redis.call('HGET', KEYS[2], ARGV[2])
if not v then return {'EMPTY'} end
local e = cjson.decode(v)
if ARGV[3] == '' or e.t ~= ARGV[3] then return {'EMPTY'} end
local cur = redis.call('HGET', KEYS[3], ARGV[6])
if cur and cur ~= ARGV[2] then return {'DOUBLE', cur} end
if redis.call('HEXISTS', KEYS[4], ARGV[4]) == 1 then return {'DUPTOKEN'} end
redis.call('HDEL', KEYS[3], e.c)
redis.call('HDEL', KEYS[4], e.t)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[5])
redis.call('HSET', KEYS[3], ARGV[6], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[7])
if ARGV[8] then redis.call('PUBLISH', ARGV[8], ARGV[7] .. '|' .. ARGV[2]) end
return {'OK'}
`)

// restoreScript puts back entries this node holds that Redis lost (a
// restart without persistence) or released (the node's heartbeat expired
// while Redis was unreachable). An entry whose orbit, Call-ID or token is
// now taken by another park is a conflict: its index is returned.
// KEYS: meta, orbits, calls, tokens, nodes. ARGV: signature, node, then
// (index, token, Call-ID, entry JSON) for each entry.
var restoreScript = redis.NewScript(metaCheck + `
local lost = {}
for k = 3, #ARGV, 4 do
  local i, t, c, j = ARGV[k], ARGV[k+1], ARGV[k+2], ARGV[k+3]
  local v = redis.call('HGET', KEYS[2], i)
  if v then
    if cjson.decode(v).t ~= t then table.insert(lost, i) end
  elseif redis.call('HEXISTS', KEYS[3], c) == 1 or redis.call('HEXISTS', KEYS[4], t) == 1 then
    table.insert(lost, i)
  else
    redis.call('HSET', KEYS[2], i, j)
    redis.call('HSET', KEYS[3], c, i)
    redis.call('HSET', KEYS[4], t, i)
    redis.call('SADD', KEYS[5], ARGV[2])
  end
end
return {'OK', lost}
`)

// heartbeatScript refreshes a node's heartbeat and returns whether it was
// still alive (1) or had expired (0), and the meta value ("" if missing).
// KEYS: node key, meta. ARGV: TTL ms, the node's address.
var heartbeatScript = redis.NewScript(`
local old = redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1], 'GET')
local m = redis.call('GET', KEYS[2])
return {old and 1 or 0, m or ''}
`)

// reapScript releases the orbits of a node whose heartbeat has expired and
// returns their indexes; it does nothing for a live node unless ARGV[2] is
// "1" (a node starting releases what a previous run of it left, see New).
// KEYS: node key, orbits, calls, tokens, nodes. ARGV: node, force.
var reapScript = redis.NewScript(`
if ARGV[2] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local freed = {}
local all = redis.call('HGETALL', KEYS[2])
for k = 1, #all, 2 do
  local e = cjson.decode(all[k+1])
  if e.n == ARGV[1] then
    redis.call('HDEL', KEYS[2], all[k])
    redis.call('HDEL', KEYS[3], e.c)
    redis.call('HDEL', KEYS[4], e.t)
    table.insert(freed, all[k])
  end
end
redis.call('SREM', KEYS[5], ARGV[1])
return freed
`)
