//! FUNCTION and FCALL against redis-server 7.0: the same commands go to both servers, in
//! RESP2 and RESP3, and the raw replies must be equal: loading libraries and every load
//! error, FCALL and FCALL_RO with flags, LIST, STATS, DELETE, FLUSH, DUMP and RESTORE
//! (payloads cross between the two servers), functions past busy-reply-threshold, and
//! CLIENT PAUSE. Hostile RESTORE payloads get an error and nothing changes.

mod common;

use common::{Client, same_on_both, text};

/// A library named `name` with the given body (the shebang line is added).
fn lib(name: &str, body: &str) -> String {
    format!("#!lua name={name}\n{body}")
}

/// Loads, calls and lists, with every error path of FUNCTION LOAD and FCALL.
fn load_and_call(c: &mut Client, t: &mut Vec<String>) {
    let mut run = |args: &[&str]| {
        let reply = text(c.cmd_args(args));
        t.push(format!("{args:?} => {reply}"));
    };
    run(&["FUNCTION", "FLUSH"]);
    let main = lib(
        "mylib",
        "redis.register_function('setter', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n\
         redis.register_function{function_name='reader', callback=function(keys, args) return {keys[1], args[1], 3.7, redis.call('get', keys[1])} end, flags={'no-writes'}, description='reads'}",
    );
    run(&["FUNCTION", "LOAD", &main]);
    run(&["FCALL", "setter", "1", "k", "v"]);
    run(&["FCALL", "READER", "1", "k", "x"]);
    run(&["FCALL_RO", "reader", "1", "k", "x"]);
    run(&["FCALL_RO", "setter", "1", "k", "x"]);
    run(&["FCALL", "nosuch", "0"]);
    run(&["FCALL", "setter", "x"]);
    run(&["FCALL", "setter", "-1"]);
    run(&["FCALL", "setter", "3", "k"]);
    run(&["FCALL", "setter"]);
    run(&["FUNCTION", "LOAD", &main]);
    run(&["FUNCTION", "LOAD", "REPLACE", &main]);
    run(&["FUNCTION", "LOAD", "BOGUS", &main]);
    run(&["FUNCTION", "LOAD", "REPLACE"]);
    // Every load error, in Redis's words.
    let errors = [
        "return 1".to_string(),
        "#!lua name=x".to_string(),
        "#!lua\nreturn 1".to_string(),
        "#!lua name=a name=b\n".to_string(),
        "#!lua foo=bar\n".to_string(),
        "#!lua \"name=x\n".to_string(),
        "#!py name=x\n".to_string(),
        lib("bad-name", "redis.register_function('f', function() end)"),
        lib("x", "return 1"),
        lib("x", "local x = math.random()"),
        lib("x", "redis.call('ping')"),
        lib("x", "foo = 1"),
        lib("x", "retur 1"),
        lib("x", "redis.register_function('f-1', function() end)"),
        lib("x", "redis.register_function('setter', function() end)"),
        lib(
            "x",
            "redis.register_function('f', function() end) redis.register_function('f', function() end)",
        ),
        lib("x", "redis.register_function('f')"),
        lib("x", "redis.register_function('f', 1)"),
        lib("x", "redis.register_function({}, function() end)"),
        lib("x", "redis.register_function(1, 2, 3)"),
        lib("x", "redis.register_function('only one')"),
        lib(
            "x",
            "redis.register_function{function_name='f', callback=function() end, flags={'bogus'}}",
        ),
        lib(
            "x",
            "redis.register_function{function_name='f', callback=function() end, flags='no-writes'}",
        ),
        lib(
            "x",
            "redis.register_function{function_name='f', callback=function() end, flags={1}}",
        ),
        lib(
            "x",
            "redis.register_function{function_name='f', callback=function() end, foo=1}",
        ),
        lib("x", "redis.register_function{function_name='f'}"),
        lib("x", "redis.register_function{callback=function() end}"),
        lib(
            "x",
            "redis.register_function{function_name={}, callback=function() end}",
        ),
        lib(
            "x",
            "redis.register_function{function_name='f', callback=1}",
        ),
        lib(
            "x",
            "redis.register_function{function_name='f', callback=function() end, description=false}",
        ),
        lib("x", "redis.register_function{[1]='f'}"),
        lib("x", "error('boom')"),
        lib("x", "error({err='MY code'})"),
        lib(
            "x",
            "redis.log(redis.LOG_WARNING, 'from load') return redis.nosuch",
        ),
    ];
    for code in &errors {
        run(&["FUNCTION", "LOAD", code]);
    }
    // Runtime: errors carry the function's name; KEYS and ARGV are not globals;
    // register_function outside a load.
    let runtime = lib(
        "rt",
        "redis.register_function('boom', function() error('kaboom') end)\n\
         redis.register_function('tbl', function() return redis.error_reply('MY err') end)\n\
         redis.register_function('globals', function() return KEYS end)\n\
         local r = redis\n\
         redis.register_function('again', function() r.register_function('z', function() end) end)\n\
         redis.register_function('resp3', function() redis.setresp(3) return redis.call('hgetall', 'nohash') end)\n\
         redis.register_function{function_name='CaseFn', callback=function() return 'case' end, flags={'NO-WRITES', 'allow-oom'}}",
    );
    run(&["FUNCTION", "LOAD", &runtime]);
    for f in ["boom", "tbl", "globals", "again", "resp3", "casefn"] {
        run(&["FCALL", f, "0"]);
    }
    // Functions are listed in hash order in Redis: list one-function libraries.
    let one = lib(
        "one",
        "redis.register_function{function_name='only', callback=function() return 1 end, flags={'allow-stale', 'no-cluster', 'allow-cross-slot-keys'}, description='the one'}",
    );
    run(&["FUNCTION", "LOAD", &one]);
    run(&["FUNCTION", "LIST", "LIBRARYNAME", "one"]);
    run(&["FUNCTION", "LIST", "LIBRARYNAME", "O*", "WITHCODE"]);
    run(&["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "nomatch"]);
    run(&["FUNCTION", "DELETE", "one"]);
    run(&["FUNCTION", "LIST", "LIBRARYNAME"]);
    run(&["FUNCTION", "LIST", "BOGUS"]);
    run(&["FUNCTION", "LIST", "WITHCODE", "WITHCODE"]);
    run(&["FUNCTION", "STATS"]);
    run(&["FUNCTION", "KILL"]);
    run(&["FUNCTION", "DELETE", "nosuch"]);
    run(&["FUNCTION", "DELETE", "rt"]);
    run(&["FCALL", "boom", "0"]);
    run(&["FUNCTION", "FLUSH", "BOGUS"]);
    run(&["FUNCTION", "FLUSH", "SYNC", "X"]);
    run(&["FUNCTION", "FLUSH", "ASYNC"]);
    run(&["FUNCTION", "LIST"]);
    run(&["FUNCTION", "STATS"]);
    run(&["FUNCTION", "LOAD", &one]);
    run(&["FUNCTION", "LIST"]);
    run(&["FUNCTION", "NOSUCH"]);
    run(&["FUNCTION", "DELETE"]);
    run(&["FUNCTION", "HELP"]);
    run(&["FCALL", "setter", "0"]);
}

#[test]
fn functions_reply_as_redis_in_resp2() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let mut t = Vec::new();
        load_and_call(&mut c, &mut t);
        t
    });
}

#[test]
fn functions_reply_as_redis_in_resp3() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("HELLO 3");
        let mut t = Vec::new();
        load_and_call(&mut c, &mut t);
        t
    });
}

#[test]
fn info_counts_libraries_and_functions() {
    let server = common::Server::start(&[]);
    let mut c = server.client();
    let two = lib(
        "two",
        "redis.register_function('a', function() return 1 end) redis.register_function('b', function() return 2 end)",
    );
    c.cmd_args(&["FUNCTION", "LOAD", &two]);
    let info = c.cmd_str("INFO memory");
    assert!(info.contains("number_of_functions:2\r\n"), "{info}");
    assert!(info.contains("number_of_libraries:1\r\n"), "{info}");
    assert!(!info.contains("used_memory_vm_functions:0\r\n"), "{info}");
    assert!(info.contains(&format!("used_memory_functions:{}\r\n", two.len())));
    c.cmd("FUNCTION FLUSH");
    let info = c.cmd_str("INFO memory");
    assert!(info.contains("number_of_functions:0\r\n"), "{info}");
}

/// Payloads cross between the servers: ours restores into redis-server and the other way
/// round, and every restore policy behaves as Redis's.
#[test]
fn dump_and_restore_cross_between_servers() {
    let ours = common::Server::start(&[]);
    let Some(redis) = common::start_redis() else {
        if common::tools_required() {
            panic!("redis-server is required");
        }
        return;
    };
    let lib_a = lib(
        "liba",
        "redis.register_function('fa', function(keys, args) return 'a' .. (args[1] or '') end)",
    );
    let lib_b = lib(
        "libb",
        "redis.register_function{function_name='fb', callback=function() return 'b' end, flags={'no-writes'}}",
    );
    let mut a = ours.client();
    let mut b = Client::connect(redis.port);
    for c in [&mut a, &mut b] {
        c.cmd("FUNCTION FLUSH");
        c.cmd_args(&["FUNCTION", "LOAD", &lib_a]);
        c.cmd_args(&["FUNCTION", "LOAD", &lib_b]);
    }
    let bulk = |raw: Vec<u8>| match common::parse(&raw) {
        common::Resp::Bulk(Some(b)) => b,
        other => panic!("FUNCTION DUMP gave {other:?}"),
    };
    let dump_ours = bulk(a.cmd("FUNCTION DUMP"));
    let dump_redis = bulk(b.cmd("FUNCTION DUMP"));
    // Each server restores the other's payload, with each policy, to the same replies.
    let scenario = |c: &mut Client, payload: &[u8]| -> Vec<String> {
        let mut t = Vec::new();
        let mut run = |args: &[&[u8]]| t.push(text(c.call(args)));
        run(&[b"FUNCTION", b"FLUSH"]);
        run(&[b"FUNCTION", b"RESTORE", payload]);
        run(&[b"FCALL", b"fa", b"0", b"x"]);
        run(&[b"FCALL_RO", b"fb", b"0"]);
        run(&[b"FUNCTION", b"RESTORE", payload]);
        run(&[b"FUNCTION", b"RESTORE", payload, b"APPEND"]);
        run(&[b"FUNCTION", b"RESTORE", payload, b"REPLACE"]);
        run(&[b"FUNCTION", b"RESTORE", payload, b"FLUSH"]);
        run(&[b"FUNCTION", b"RESTORE", payload, b"BOGUS"]);
        run(&[b"FUNCTION", b"RESTORE", payload, b"FLUSH", b"X"]);
        run(&[b"FUNCTION", b"LIST", b"LIBRARYNAME", b"liba"]);
        // A function of another library with a restored function's name: no REPLACE
        // helps, and nothing changes.
        run(&[b"FUNCTION", b"DELETE", b"liba"]);
        let clash = lib(
            "other",
            "redis.register_function('fa', function() return 'other' end)",
        );
        run(&[b"FUNCTION", b"LOAD", clash.as_bytes()]);
        run(&[b"FUNCTION", b"RESTORE", payload, b"REPLACE"]);
        run(&[b"FCALL", b"fa", b"0"]);
        // Which of the two libraries is named first is Redis's hash order.
        t.iter()
            .map(|l| l.replace("Library libb already", "Library liba already"))
            .collect()
    };
    let mut ours_from_redis = scenario(&mut a, &dump_redis);
    let mut redis_from_ours = scenario(&mut b, &dump_ours);
    let redis_from_redis = scenario(&mut b, &dump_redis);
    let ours_from_ours = scenario(&mut a, &dump_ours);
    assert_eq!(ours_from_redis, redis_from_redis);
    assert_eq!(ours_from_ours, redis_from_redis);
    assert_eq!(redis_from_ours, redis_from_redis);
    ours_from_redis.clear();
    redis_from_ours.clear();
}

/// Corrupt, truncated and hostile payloads are refused with Redis's errors; the libraries
/// stay as they were and the server stays up.
#[test]
fn hostile_restore_payloads_are_refused() {
    use rust_keyval::persist::rdb;
    let seal = |mut body: Vec<u8>| {
        rdb::seal_payload(&mut body);
        body
    };
    let mut huge_len = vec![rdb::OPCODE_FUNCTION2, 0x81];
    huge_len.extend_from_slice(&u64::MAX.to_be_bytes());
    let mut lzf_bomb = vec![rdb::OPCODE_FUNCTION2, 0xC3, 2];
    rdb::save_len(&mut lzf_bomb, 1 << 40);
    lzf_bomb.extend_from_slice(&[0, b'a']);
    let mut not_a_library = vec![rdb::OPCODE_FUNCTION2];
    rdb::save_string(&mut not_a_library, b"return 1");
    let mut twice = Vec::new();
    for _ in 0..2 {
        twice.push(rdb::OPCODE_FUNCTION2);
        rdb::save_string(
            &mut twice,
            lib("dup", "redis.register_function('d', function() end)").as_bytes(),
        );
    }
    let mut endless = vec![rdb::OPCODE_FUNCTION2];
    rdb::save_string(
        &mut endless,
        lib("slow", "redis.register_function('s', function() end) local i = 0 while i < 3e6 do i = i + 1 end").as_bytes(),
    );
    let payloads: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"short".to_vec(),
        vec![0; 64],
        seal(vec![7, 1, 2, 3]),
        seal(huge_len),
        seal(lzf_bomb),
        seal(not_a_library),
        seal(twice),
        seal(vec![rdb::OPCODE_FUNCTION2]),
        seal(vec![rdb::OPCODE_FUNCTION, 3, b'a']),
        // No time limit on restore, as in Redis: a slow library loads.
        seal(endless),
    ];
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FUNCTION FLUSH");
        let keep = lib(
            "keep",
            "redis.register_function('k', function() return 'kept' end)",
        );
        c.cmd_args(&["FUNCTION", "LOAD", &keep]);
        let mut t = Vec::new();
        for p in &payloads {
            t.push(text(c.call(&[b"FUNCTION", b"RESTORE", p])));
            t.push(text(c.cmd("FCALL k 0")));
        }
        t.push(text(c.cmd("FUNCTION LIST LIBRARYNAME keep")));
        t
    });
}

/// FUNCTION LOAD stops library code that runs past 500 ms.
#[test]
fn a_slow_library_load_times_out() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        let slow = lib("slow", "local a = 1 while 1 do a = a + 1 end");
        let started = std::time::Instant::now();
        let t = vec![text(c.cmd_args(&["FUNCTION", "LOAD", &slow]))];
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        t
    });
}

#[test]
fn a_busy_function_answers_stats_and_function_kill() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        admin.cmd("FUNCTION FLUSH");
        admin.cmd("CONFIG SET busy-reply-threshold 100");
        let code = lib(
            "busy",
            "redis.register_function('spin', function() local i = 0 while true do i = i + 1 end end)\n\
             redis.register_function('spin_w', function() redis.call('set', 'w', 1) while true do end end)",
        );
        admin.cmd_args(&["FUNCTION", "LOAD", &code]);
        let mut runner = Client::connect(port);
        runner.send(&[b"FCALL", b"spin", b"0", b"arg"]);
        let mut t = vec![common::until_busy(&mut admin)];
        // FUNCTION STATS names the running function and its command (the duration varies).
        let stats = text(admin.cmd("FUNCTION STATS"));
        let (head, tail) = stats.split_once("duration_ms\r\n:").unwrap_or_default();
        let tail = tail.split_once("\r\n").map_or("", |(_, rest)| rest);
        t.push(format!("{head} .. {tail}"));
        t.push(text(admin.cmd("SCRIPT KILL")));
        t.push(text(admin.cmd("FUNCTION KILL")));
        t.push(text(runner.read_reply()));
        t.push(text(admin.cmd("PING")));
        runner.send(&[b"FCALL", b"spin_w", b"0"]);
        common::until_busy(&mut admin);
        t.push(text(admin.cmd("FUNCTION KILL")));
        t.push(text(admin.cmd("GET w")));
        admin.send(&[b"SHUTDOWN", b"NOSAVE"]);
        t
    });
}

#[test]
fn eval_busy_refuses_function_kill_and_stats() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("CONFIG SET busy-reply-threshold 100");
        let mut runner = Client::connect(port);
        runner.send(&[b"EVAL", b"while true do end", b"0"]);
        let mut t = vec![common::until_busy(&mut admin)];
        t.push(text(admin.cmd("FUNCTION KILL")));
        t.push(text(admin.cmd("FUNCTION STATS")));
        t.push(text(admin.cmd("SCRIPT KILL")));
        t.push(text(runner.read_reply()));
        t
    });
}

/// CLIENT PAUSE WRITE holds FUNCTION LOAD and writing functions, not no-writes ones.
#[test]
fn pause_write_holds_loads_and_writing_functions() {
    same_on_both(|port| {
        let mut admin = Client::connect(port);
        admin.cmd("FLUSHALL");
        admin.cmd("FUNCTION FLUSH");
        let code = lib(
            "p",
            "redis.register_function('w', function() return redis.call('incr', 'n') end)\n\
             redis.register_function{function_name='r', callback=function() return redis.call('get', 'n') end, flags={'no-writes'}}",
        );
        admin.cmd_args(&["FUNCTION", "LOAD", &code]);
        admin.cmd("CLIENT PAUSE 100000 WRITE");
        let mut t = Vec::new();
        let mut reader = Client::connect(port);
        t.push(text(reader.cmd("FCALL r 0")));
        let mut writer = Client::connect(port);
        writer.send(&[b"FCALL", b"w", b"0"]);
        let mut loader = Client::connect(port);
        let other = lib("q", "redis.register_function('q', function() return 1 end)");
        loader.send(&[b"FUNCTION", b"LOAD", other.as_bytes()]);
        // Both wait: they show as blocked until the pause ends.
        let blocked = common::wait_for(std::time::Duration::from_secs(5), || {
            let info = admin.cmd_str("INFO clients");
            info.contains("blocked_clients:2").then_some(())
        });
        t.push(format!("held: {}", blocked.is_some()));
        admin.cmd("CLIENT UNPAUSE");
        t.push(text(writer.read_reply()));
        t.push(text(loader.read_reply()));
        t
    });
}
