//! The rust-keyval server binary: parse the configuration, start the event loop.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use rust_keyval::config::{Config, MetricsBind};
use rust_keyval::metrics::http::Limits;
use rust_keyval::net::Server;

#[global_allocator]
static ALLOC: rust_keyval::alloc::CountingAlloc = rust_keyval::alloc::CountingAlloc;

fn main() -> ExitCode {
    let config = Config::parse();
    // Redis's setlocale(LC_COLLATE, ""): SORT ... ALPHA collates in the environment's locale.
    rust_keyval::cmd::sort::init_collation();
    rust_keyval::logging::init(config.log_level);
    let metrics = config.metrics_bind;
    let metrics_compat = config.metrics_compat;
    let metrics_limits = Limits {
        idle_timeout: Duration::from_millis(config.metrics_idle_timeout_ms),
        ..Limits::default()
    };
    let mut server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) => {
            log::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = server.handle_signals() {
        log::error!("cannot install signal handlers: {e}");
        return ExitCode::FAILURE;
    }
    match metrics {
        MetricsBind::On(addr) => {
            let stats = server.stats();
            match rust_keyval::metrics::exporter::start(addr, stats, metrics_limits, metrics_compat)
            {
                Ok(bound) => {
                    log::info!("metrics at http://{bound}/metrics");
                    log::info!("live console at http://{bound}/");
                }
                Err(e) => {
                    log::error!("cannot serve metrics on {addr}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        MetricsBind::Off => log::info!("metrics endpoint disabled"),
    }
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("event loop failed: {e}");
            ExitCode::FAILURE
        }
    }
}
