//! Real client libraries against the server, with their default options: redis-py 8 and
//! ioredis 6 (both negotiate RESP3 with HELLO 3), rq 2 (jobs through a worker to their
//! results, which rq keeps in streams), and BullMQ 5 (a job queue made of Lua scripts,
//! streams, blocking pops and sorted sets). Mandatory in CI, which installs them
//! (KEYVAL_REQUIRE_TOOLS=1); skipped elsewhere without them.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Server, tools_required};

/// True if `check` (a shell command) succeeds; otherwise skips or fails as `have_tool` does.
fn available(what: &str, check: &str) -> bool {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(check)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !tools_required(),
            "{what} is required (KEYVAL_REQUIRE_TOOLS=1) but not installed"
        );
        eprintln!("SKIPPED: {what} is not installed");
    }
    ok
}

fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
        .display()
        .to_string()
}

fn run(program: &str, script_name: &str, server: &Server) {
    let out = Command::new(program)
        .arg(script(script_name))
        .arg(server.port.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script_name} failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
}

#[test]
fn redis_py_with_default_options() {
    if !available("python3 with redis-py", "python3 -c 'import redis'") {
        return;
    }
    let server = Server::start(&[]);
    run("python3", "redis_py_check.py", &server);
}

#[test]
fn rq_enqueue_worker_result_flow() {
    if !available("python3 with rq", "python3 -c 'import rq'") {
        return;
    }
    let server = Server::start(&[]);
    run("python3", "rq_check.py", &server);
}

#[test]
fn ioredis_with_default_options() {
    if !available(
        "node with ioredis (NODE_PATH)",
        "node -e \"require.resolve('ioredis')\"",
    ) {
        return;
    }
    let server = Server::start(&[]);
    run("node", "ioredis_check.js", &server);
}

#[test]
fn bullmq_jobs_retries_delays_flows_and_schedulers() {
    if !available(
        "node with bullmq (NODE_PATH)",
        "node -e \"require.resolve('bullmq')\"",
    ) {
        return;
    }
    let server = Server::start(&[]);
    run("node", "bullmq_check.js", &server);
}
