//! The rust-keyval server binary: resolve the configuration (flags, environment,
//! configuration file), set up the process, start the event loop.

use std::process::ExitCode;
use std::time::Duration;

use rust_keyval::config::{Config, MetricsBind, StartError, process};
use rust_keyval::metrics::http::Limits;
use rust_keyval::net::Server;

#[global_allocator]
static ALLOC: rust_keyval::alloc::CountingAlloc = rust_keyval::alloc::CountingAlloc;

fn main() -> ExitCode {
    let mut config = Config::from_command_line();
    // Redis's setlocale(LC_COLLATE, ""): SORT ... ALPHA collates in the environment's locale.
    rust_keyval::cmd::sort::init_collation();
    rust_keyval::logging::init(config.log_level);
    let warnings = match config.resolve() {
        Ok(w) => w,
        Err(StartError::File(e)) => {
            // Redis prints its configuration errors to stderr, not to the log.
            eprint!("{e}");
            return ExitCode::FAILURE;
        }
        Err(StartError::Other(e)) => {
            log::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    rust_keyval::logging::init(config.log_level);
    let params = config.startup.params.clone().unwrap_or_default();
    // Before any thread starts: daemonize forks.
    let process = process::setup(&params);
    if let Some(file) = &params.config_file {
        log::info!("configuration loaded from {}", file.display());
    }
    for w in &warnings {
        log::warn!("{w}");
    }
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
            process.exit();
            return ExitCode::FAILURE;
        }
    };
    process.write_pidfile();
    if let Err(e) = server.handle_signals() {
        log::error!("cannot install signal handlers: {e}");
        process.exit();
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
                    process.exit();
                    return ExitCode::FAILURE;
                }
            }
        }
        MetricsBind::Off => log::info!("metrics endpoint disabled"),
    }
    let result = server.run();
    process.exit();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("event loop failed: {e}");
            ExitCode::FAILURE
        }
    }
}
