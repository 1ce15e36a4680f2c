//! The Lua scripts of the `evalincr` and `evalrl` workloads (issue 11's speed targets),
//! loaded with SCRIPT LOAD before the load starts and then run with EVALSHA.

/// One command: the smallest script, so the cost measured is the scripting machinery's.
pub const INCR: &str = "return redis.call('INCR', KEYS[1])";

/// Ten commands on one key family, shaped like a moving-window rate limiter (the `limits`
/// library's): trim the window, count, add, expire, and keep some statistics. ARGV[1] is
/// the time in ms, ARGV[2] the request's id.
pub const RATE_LIMIT: &str = r#"local k = KEYS[1]
redis.call('ZREMRANGEBYSCORE', k, '-inf', ARGV[1] - 60000)
local n = redis.call('ZCARD', k)
redis.call('ZADD', k, ARGV[1], ARGV[2])
redis.call('PEXPIRE', k, 60000)
redis.call('HINCRBY', k .. ':stats', 'calls', 1)
redis.call('HSET', k .. ':stats', 'last', ARGV[1])
redis.call('INCR', k .. ':total')
redis.call('EXPIRE', k .. ':total', 3600)
redis.call('GET', k .. ':total')
redis.call('SET', k .. ':last', ARGV[2])
return n
"#;
