//! Lua scripting (EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT) against redis-server 7.0: the
//! same commands go to both servers, in RESP2 and RESP3, and the raw replies must be
//! equal: type conversions both ways, `redis.*` API errors, the sandbox's texts, shebang
//! flags, script errors with their `script: <sha>, on @user_script:<line>` suffix.

mod common;

use common::{Client, same_on_both, text};

/// Scripts run with `EVAL <script> 0`, one after the other on one connection.
const SCRIPTS: &[&str] = &[
    "x = 1",
    "return foo",
    "string.foo = 1",
    "rawset(_G, 'x', 1)",
    "redis.call('nosuch')",
    "redis.call('get')",
    "return redis.call('incr','a','b')",
    "return redis.pcall('incr','a','b')",
    "error('boom')",
    "error({err='MY custom'})",
    "return {1,2,{3,'x'},nil,4}",
    "return {ok='fine'}",
    "return 3.99",
    "return -3.99",
    "return true",
    "return false",
    "return nil",
    "return redis.call('set','k','v')",
    "return redis.call('get','nokey')",
    "return unpack({1,2})",
    "return table.getn({1,2,3})",
    "return redis.sha1hex('')",
    "return redis.sha1hex()",
    "return redis.error_reply('X bad')",
    "return redis.error_reply('-Y bad')",
    "return redis.status_reply('X')",
    "return redis.status_reply(1)",
    "return loadstring('return 1')()",
    "return os",
    "return type(print)",
    "return _VERSION",
    "return {err='x'}",
    "retur 1",
    "return redis.call('lpush','l','a','b')",
    "return redis.call('lrange','l',0,-1)",
    "return redis.call('hset','h','f',1.5)",
    "return redis.call('hget','h','f')",
    "return redis.call('incrbyfloat','fl','0.1')",
    "return redis.call('type','l')",
    "return redis.pcall('lpush','k','x')",
    "local r = redis.pcall('lpush','k','x'); return r['err']",
    "return redis.call('lpush','k','x')",
    "return {1,'two',{ok='three'},{err='four'}}",
    "redis.setresp(3); return redis.call('hgetall','h')",
    "redis.setresp(3); return true",
    "redis.setresp(3); return false",
    "redis.setresp(4)",
    "return redis.call('ping')",
    "return redis.call('echo', 12345678901234567)",
    "return redis.call('echo', 0.1)",
    "return redis.call('multi')",
    "return redis.call('blpop','l',0)",
    "return redis.call('subscribe','c')",
    "return redis.call('client','list')",
    "return redis.call('config','get','maxmemory')",
    "return redis.call('select', 5)",
    "return #KEYS + #ARGV",
    "return redis.REDIS_VERSION ~= nil",
    "return redis.LOG_WARNING",
    "redis.log(99, 'x')",
    "redis.log('a')",
    "return redis.set_repl(redis.REPL_ALL)",
    "return redis.set_repl(99)",
    "return redis.replicate_commands()",
    "return pcall(function() redis.call('nosuch') end)",
    "return {pcall(function() error({err='E1 x'}) end)}",
    "local t = {} t.x = 1 return t.x",
    "_G.foo = 1",
    "return redis.call('get', {})",
    "return redis.call()",
    "return redis.call('eval','return 1','0')",
    "return redis.breakpoint()",
    "return redis.debug('x')",
    "return redis.acl_check_cmd('get','x')",
    "return redis.acl_check_cmd('nosuch')",
    "return getmetatable('').__index == string",
    "return setmetatable({}, {__index=function() return 5 end}).x",
    "return rawget(_G, 'redis') ~= nil",
    "return select('#', 1, 2, 3)",
    "local a = {} for i=1,5 do a[i]=i*i end return a",
    "return {map={a=1}}",
    "return {double=3.5}",
    "return {big_number='123'}",
    "return {set={a=true}}",
    "return string.format('%d', 5)",
    "return redis.call('zadd','z',1,'a')",
    "return redis.call('zrange','z',0,-1,'withscores')",
    "redis.setresp(3) return redis.call('zrange','z',0,-1,'withscores')",
    "redis.setresp(3) return redis.call('smembers','nosuchset')",
    "redis.setresp(3) return redis.call('get','nokey')",
    "return redis.call('hgetall','nohash')",
    "return redis.call('exists','k','l')",
    "return tonumber('0x10')",
    "return 2^53",
    "return -0.5",
    "return 1e20",
    "return math.huge",
    "return {1,2,nil}",
    "return redis.pcall('get','l')",
    "return ('x'):rep(3)",
    "return string.upper('abc')",
    "return coroutine.wrap(function() return 7 end)()",
    "return redis.call('hset','h2','a','1','b','2')",
    "redis.setresp(3) return redis.call('hgetall','h2')",
    "redis.setresp(3) return redis.call('zscore','z','a')",
    "redis.setresp(3) return redis.call('sismember','s','x')",
    "return cjson.encode({1, 2, {a = 1}})",
    "return cjson.decode('[1,2,{\\\"a\\\":null}]')[3].a == cjson.null",
    "return cjson.encode(cjson.decode('{\\\"x\\\":[1,2.5,\\\"s\\\"]}'))",
    "return cjson.decode('[1,')",
    "return cmsgpack.unpack(cmsgpack.pack({1, 2, 3}))",
    "return cmsgpack.pack('abc', 1.5, -1)",
    "return bit.band(0xff, 0x0f)",
    "return bit.tohex(65535, -4)",
    "return struct.pack('>I2', 258)",
    "return {struct.unpack('<i4', struct.pack('<i4', -5))}",
    "cjson.foo = 1",
    "return _G[true]",
    "return _G[42]",
    "setmetatable(_G, {})",
    "local g = getmetatable(_G) g.__index = {}",
    "rawset(getmetatable(_G), '__index', {})",
    "return type(getmetatable(_G))",
    "redis = function() return 1 end",
    "_G = {}",
    "redis.call = function() return 1 end",
    "setmetatable(redis, {})",
    "return setmetatable({}, {}) ~= nil",
    "return loadstring(string.dump(function() return 1 end))()",
    "return {loadstring('\\27Lua')}",
    "return type(redis)",
];

/// A body that starts like a precompiled chunk is read as text, as Redis's Lua does.
#[test]
fn binary_chunks_are_refused() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        vec![
            text(c.call(&[b"EVAL", b"\x1bLuaQ\x00\x01\x04", b"0"])),
            text(c.call(&[b"SCRIPT", b"LOAD", b"\x1bLua"])),
        ]
    });
}

fn run_all(c: &mut Client, t: &mut Vec<String>) {
    for s in SCRIPTS {
        let reply = text(c.call(&[b"EVAL", s.as_bytes(), b"0"]));
        t.push(format!("{s} => {reply}"));
    }
}

#[test]
fn scripts_reply_as_redis_in_resp2() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let mut t = Vec::new();
        run_all(&mut c, &mut t);
        t
    });
}

#[test]
fn scripts_reply_as_redis_in_resp3() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("HELLO 3");
        let mut t = Vec::new();
        run_all(&mut c, &mut t);
        t
    });
}

#[test]
fn keys_argv_sha_cache_and_flags() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let cmds: &[&[&str]] = &[
            &[
                "EVAL",
                "return {KEYS[1], KEYS[2], ARGV[1]}",
                "2",
                "a",
                "b",
                "x",
            ],
            &["EVAL", "return ARGV", "0", "x", "y"],
            &["EVAL", "return 1", "-1"],
            &["EVAL", "return 1", "5", "a"],
            &["EVAL", "return 1", "x"],
            &["EVAL", "return 1"],
            &["SCRIPT", "LOAD", "return 'loaded'"],
            &["EVALSHA", "nosuch", "0"],
            &[
                "SCRIPT",
                "EXISTS",
                "a1b2",
                "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
            ],
            &["EVAL", "return 'case'", "0"],
            &[
                "SCRIPT",
                "EXISTS",
                "2F6BFC8D8D1F5D8FD0D4C46FD7A1DAF2FBC4E3FE",
            ],
            &["SCRIPT", "FLUSH", "foo"],
            &["SCRIPT", "FLUSH", "ASYNC"],
            &[
                "SCRIPT",
                "EXISTS",
                "e0e1f9fabfc9d4800c877a703b823ac0578ff8db",
            ],
            &["SCRIPT", "KILL"],
            &["SCRIPT"],
            &["SCRIPT", "LOAD"],
            &["SCRIPT", "NOSUCH"],
            &["SCRIPT", "LOAD", "retur 1"],
            &[
                "EVAL",
                "#!lua flags=no-writes\nreturn redis.call('set','a','b')",
                "0",
            ],
            &["EVAL", "#!lua\nreturn redis.call('set','a','b')", "0"],
            &["EVAL_RO", "return redis.call('set','a','b')", "0"],
            &["EVAL_RO", "return redis.call('get','a')", "0"],
            &["EVAL_RO", "#!lua\nreturn 1", "0"],
            &["EVAL_RO", "#!lua flags=no-writes\nreturn 1", "0"],
            &["EVAL_RO", "return redis.call('publish','ch','m')", "0"],
            &["EVAL", "#!lua flags=nope\nreturn 1", "0"],
            &["EVAL", "#!py\nreturn 1", "0"],
            &["EVAL", "#!lua name=x\nreturn 1", "0"],
            &["EVAL", "#!lua\nerror('line2')", "0"],
            &["EVAL", "\n\nerror('line3')", "0"],
            &["EVAL", "return redis.call('get', KEYS[1])", "1", "a"],
            &["EVALSHA_RO", "nosuch", "0"],
        ];
        let mut t = Vec::new();
        for cmd in cmds {
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
            t.push(format!("{cmd:?} => {}", text(c.call(&args))));
        }
        // EVALSHA of what SCRIPT LOAD returned, in any case.
        let sha = text(c.call(&[b"SCRIPT", b"LOAD", b"return 'by sha'"]));
        let sha = sha.lines().nth(1).unwrap_or_default().to_string();
        t.push(text(c.call(&[b"EVALSHA", sha.as_bytes(), b"0"])));
        t.push(text(c.call(&[
            b"EVALSHA",
            sha.to_uppercase().as_bytes(),
            b"0",
        ])));
        t.push(text(c.call(&[b"EVALSHA_RO", sha.as_bytes(), b"0"])));
        t
    });
}

#[test]
fn math_random_follows_redis_sequence() {
    // Fresh servers on both sides: the generator starts where Redis's starts.
    same_on_both(|port| {
        let mut c = Client::connect(port);
        let mut t = vec![text(c.cmd_args(&[
            "EVAL",
            "return {tostring(math.random()), math.random(100), math.random(5, 10)}",
            "0",
        ]))];
        t.push(text(c.cmd_args(&[
            "EVAL",
            "math.randomseed(42) return {tostring(math.random()), math.random(1000)}",
            "0",
        ])));
        t
    });
}

#[test]
fn script_errors_count_once_in_errorstats() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("CONFIG RESETSTAT");
        c.cmd("SET x notnum");
        for s in [
            "return redis.call('incr','a','b')",
            "return redis.call('nosuch')",
            "return redis.call('incr','x')",
            "return redis.pcall('incr','x')",
            "error('x')",
        ] {
            c.cmd_args(&["EVAL", s, "0"]);
        }
        let stats = text(c.cmd("INFO errorstats"));
        let commands = text(c.cmd("INFO commandstats"));
        let mut t: Vec<String> = stats
            .lines()
            .filter(|l| l.starts_with("errorstat"))
            .map(String::from)
            .collect();
        for l in commands
            .lines()
            .filter(|l| l.starts_with("cmdstat_eval") || l.starts_with("cmdstat_incr"))
        {
            // Times differ; calls and failures must not.
            let calls: Vec<&str> = l.split(',').filter(|f| !f.contains("usec")).collect();
            t.push(calls.join(","));
        }
        // INFO's command order is Redis's dict order; compare as a set.
        t.sort();
        t
    });
}

#[test]
fn monitor_shows_script_commands() {
    same_on_both(|port| {
        let mut m = Client::connect(port);
        let mut t = vec![text(m.cmd("MONITOR"))];
        let mut c = Client::connect(port);
        c.cmd_args(&[
            "EVAL",
            "redis.call('set', KEYS[1], ARGV[1])",
            "1",
            "foo",
            "bar",
        ]);
        // EVAL's line first, from its client; then its commands, from "lua".
        for _ in 0..2 {
            let line = text(m.read_reply());
            let (origin, args) = line.split_once("] ").unwrap_or_default();
            let origin = origin.split_once('[').map_or("", |(_, o)| o);
            let origin = origin.replace(&c.local_port().to_string(), "PORT");
            t.push(format!("[{origin}] {args}"));
        }
        t
    });
}

#[test]
fn a_busy_script_can_be_killed_and_others_get_busy() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        admin.cmd("CONFIG SET busy-reply-threshold 100");
        let mut runner = Client::connect(port);
        runner.send(&[b"EVAL", b"local i = 0 while true do i = i + 1 end", b"0"]);
        let mut t = vec![common::until_busy(&mut admin)];
        // Clients that connect meanwhile are served too; only SCRIPT KILL and SHUTDOWN
        // NOSAVE are accepted.
        let mut late = Client::connect(port);
        t.push(text(late.cmd("GET x")));
        t.push(text(late.cmd("SCRIPT KILL")));
        t.push(text(runner.read_reply()));
        t.push(text(late.cmd("PING")));
        // A script that wrote cannot be killed.
        runner.send(&[
            b"EVAL",
            b"redis.call('set', 'w', '1') while true do end",
            b"0",
        ]);
        common::until_busy(&mut admin);
        t.push(text(late.cmd("SCRIPT KILL")));
        // SHUTDOWN NOSAVE ends it (the runner's connection closes with the server).
        late.send(&[b"SHUTDOWN", b"NOSAVE"]);
        t
    });
}

/// While a script is busy, MULTI, WATCH, AUTH, HELLO and the like run; a command queued
/// meanwhile gets -BUSY and dooms the transaction, and EXEC aborts it (Redis's
/// rejectCommand).
#[test]
fn transactions_during_a_busy_script() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        admin.cmd("SET xx 1");
        admin.cmd("CONFIG SET busy-reply-threshold 50");
        let mut t = Vec::new();
        for exec_while_busy in [false, true] {
            let mut runner = Client::connect(port);
            let mut tx = Client::connect(port);
            if exec_while_busy {
                t.push(text(tx.cmd("MULTI")));
                t.push(text(tx.cmd("INCR xx")));
            }
            runner.send(&[b"EVAL", b"while true do end", b"0"]);
            common::until_busy(&mut admin);
            if exec_while_busy {
                t.push(text(tx.cmd("EXEC")));
            } else {
                t.push(text(tx.cmd("MULTI")));
                t.push(text(tx.cmd("INCR xx")));
                t.push(text(tx.cmd("WATCH xx")));
                t.push(text(tx.cmd("HELLO 2 SETNAME busy")).len().to_string());
                t.push(text(tx.cmd("AUTH nobody pass")));
            }
            t.push(text(admin.cmd("SCRIPT KILL")));
            t.push(text(runner.read_reply()));
            if !exec_while_busy {
                t.push(text(tx.cmd("INCR xx")));
                t.push(text(tx.cmd("EXEC")));
            }
            t.push(text(tx.cmd("GET xx")));
            t.push(text(tx.cmd("CLIENT GETNAME")));
        }
        t
    });
}
