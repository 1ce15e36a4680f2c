//! CLUSTER, READONLY, READWRITE, ASKING and MODULE, compared with redis-server 7.0 in its
//! standalone mode (`cluster-enabled no`) with no module loaded: cluster commands answer
//! that cluster support is disabled, MODULE LIST is empty, and MODULE LOAD/LOADEX/UNLOAD
//! are refused unless `enable-module-command` allows them (then no module loads or
//! unloads). Arity and unknown-subcommand errors, scripts, and RESP2 and RESP3.

mod common;

use common::{Client, Server, same_on_both, start_redis_with, text};

fn transcript(c: &mut Client, cmds: &[&[&str]]) -> Vec<String> {
    cmds.iter()
        .map(|args| format!("{args:?} => {}", text(c.cmd_args(args))))
        .collect()
}

const COMMANDS: &[&[&str]] = &[
    &["CLUSTER", "INFO"],
    &["cluster", "slots"],
    &["CLUSTER", "HELP"],
    &["CLUSTER", "KEYSLOT", "foo"],
    &["CLUSTER", "RESET", "HARD"],
    &["CLUSTER", "RESET"],
    &["CLUSTER", "SETSLOT", "1", "NODE", "x"],
    &["CLUSTER", "KEYSLOT"],
    &["CLUSTER", "INFO", "extra"],
    &["CLUSTER", "nosuch"],
    &["CLUSTER"],
    &["READONLY"],
    &["READWRITE"],
    &["ASKING"],
    &["READONLY", "x"],
    &["ASKING", "x"],
    &["MODULE", "LIST"],
    &["MODULE", "HELP"],
    &["MODULE", "LOAD", "/nonexistent.so"],
    &[
        "MODULE",
        "LOADEX",
        "/nonexistent.so",
        "CONFIG",
        "a",
        "b",
        "ARGS",
        "x",
    ],
    &["MODULE", "UNLOAD", "foo"],
    &["MODULE", "LIST", "x"],
    &["MODULE", "LOAD"],
    &["MODULE", "nosuch"],
    &["MODULE"],
    &["EVAL", "return redis.call('cluster', 'reset', 'hard')", "0"],
    &["EVAL", "return redis.call('cluster', 'info')", "0"],
    &["EVAL", "return redis.call('readonly')", "0"],
    &["EVAL", "return redis.call('asking')", "0"],
    &["EVAL", "return redis.call('module', 'list')", "0"],
    &["EVAL", "return redis.call('module', 'help')", "0"],
    &["MULTI"],
    &["CLUSTER", "INFO"],
    &["MODULE", "LIST"],
    &["EXEC"],
    // Containers list their subcommands in the order of a hash table seeded at random in
    // Redis: subcommands are asked for one by one.
    &["COMMAND", "INFO", "readonly", "readwrite", "asking"],
    &[
        "COMMAND",
        "INFO",
        "cluster|reset",
        "cluster|info",
        "cluster|help",
        "cluster|setslot",
    ],
    &[
        "COMMAND",
        "INFO",
        "module|list",
        "module|load",
        "module|help",
        "module|unload",
    ],
];

#[test]
fn cluster_and_module_reply_as_standalone_redis_in_resp2() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        transcript(&mut c, COMMANDS)
    });
}

#[test]
fn cluster_and_module_reply_as_standalone_redis_in_resp3() {
    same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("HELLO 3");
        transcript(&mut c, COMMANDS)
    });
}

/// With `enable-module-command yes`, LOAD and LOADEX fail as a module that does not load
/// fails in Redis, and UNLOAD finds no such module.
#[test]
fn module_commands_when_enabled_fail_as_redis_fails_to_load() {
    const ENABLED: &[&[&str]] = &[
        &["MODULE", "LOAD", "/nonexistent.so"],
        &["MODULE", "LOAD", "/nonexistent.so", "arg"],
        &[
            "MODULE",
            "LOADEX",
            "/nonexistent.so",
            "CONFIG",
            "a",
            "b",
            "ARGS",
            "x",
        ],
        &["MODULE", "LOADEX", "/nonexistent.so", "BADARG"],
        &["MODULE", "UNLOAD", "foo"],
        &["MODULE", "LIST"],
    ];
    let ours = Server::start(&["--enable-module-command", "yes"]);
    let got = transcript(&mut Client::connect(ours.port), ENABLED);
    assert!(
        got[0].ends_with("=> -ERR Error loading the extension. Please check the server logs.\r\n"),
        "{got:?}"
    );
    if let Some(redis) = start_redis_with(&["--enable-module-command", "yes"]) {
        let want = transcript(&mut Client::connect(redis.port), ENABLED);
        assert_eq!(got, want);
    }
}
