//! The process settings Redis applies at startup (server.c's `main`): `logfile`,
//! `supervised` (systemd's readiness notification, upstart's SIGSTOP), `daemonize`
//! (fork, new session, standard streams to /dev/null) and `pidfile` (written once the
//! server is listening, removed when it exits).

use std::path::PathBuf;
use std::sync::OnceLock;

use super::params::Params;

/// Where Redis writes its pid when daemonized without a `pidfile` (CONFIG_DEFAULT_PID_FILE).
const DEFAULT_PID_FILE: &str = "/var/run/redis.pid";

/// systemd's notification socket, when the server is supervised by systemd.
static NOTIFY_SOCKET: OnceLock<std::ffi::OsString> = OnceLock::new();

/// What startup set up; [`Process::exit`] undoes it.
#[derive(Debug, Default)]
pub struct Process {
    pidfile: Option<PathBuf>,
}

/// Applies `logfile`, `supervised` and `daemonize`. Must run before any thread is started
/// (fork keeps only the calling thread). In the parent of a daemonizing fork it does not
/// return: the parent exits 0 at once, as Redis's does.
pub fn setup(params: &Params) -> Process {
    let text =
        |name: &str| String::from_utf8_lossy(&params.get(name).unwrap_or_default()).into_owned();
    let logfile = text("logfile");
    if !logfile.is_empty() {
        crate::logging::set_file(Some(PathBuf::from(&logfile)));
    }
    let supervised = supervise(&text("supervised"));
    let background = text("daemonize") == "yes" && !supervised;
    if background {
        daemonize();
    }
    let pidfile = text("pidfile");
    let pidfile = match (pidfile.is_empty(), background) {
        (false, _) => Some(PathBuf::from(pidfile)),
        (true, true) => Some(PathBuf::from(DEFAULT_PID_FILE)),
        (true, false) => None,
    };
    Process { pidfile }
}

impl Process {
    /// Writes the pid file, best effort (Redis ignores a failure too), once the server is
    /// listening.
    pub fn write_pidfile(&self) {
        if let Some(path) = &self.pidfile
            && let Err(e) = std::fs::write(path, format!("{}\n", std::process::id()))
        {
            log::debug!("cannot write the pid file {}: {e}", path.display());
        }
    }

    /// The server is stopping: tells systemd, removes the pid file.
    pub fn exit(&self) {
        notify_systemd("STOPPING=1\n");
        if let Some(path) = &self.pidfile {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Sets up supervision for `mode` (no, upstart, systemd, auto); true when supervised.
fn supervise(mode: &str) -> bool {
    let mode = match mode {
        "auto" if std::env::var_os("UPSTART_JOB").is_some() => "upstart",
        "auto" if std::env::var_os("NOTIFY_SOCKET").is_some() => "systemd",
        other => other,
    };
    match mode {
        "upstart" => {
            if std::env::var_os("UPSTART_JOB").is_none() {
                log::warn!("upstart supervision requested, but UPSTART_JOB not found!");
                return false;
            }
            log::info!("supervised by upstart, will stop to signal readiness.");
            // SAFETY: raising a signal on ourselves; upstart resumes us with SIGCONT.
            unsafe {
                libc::raise(libc::SIGSTOP);
            }
            // SAFETY: no other thread runs yet (see `setup`).
            unsafe { std::env::remove_var("UPSTART_JOB") };
            true
        }
        "systemd" => {
            let Some(socket) = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty()) else {
                log::warn!("systemd supervision error: NOTIFY_SOCKET not found!");
                return false;
            };
            let _ = NOTIFY_SOCKET.set(socket);
            if !notify_systemd("STATUS=Redis is loading...\n") {
                return false;
            }
            log::info!(
                "Supervised by systemd. Please make sure you set appropriate values for \
                 TimeoutStartSec and TimeoutStopSec in your service unit."
            );
            true
        }
        _ => false,
    }
}

/// The dataset is loaded and clients are served: tells systemd (READY=1), as Redis does.
pub fn notify_ready() {
    notify_systemd("STATUS=Ready to accept connections\n");
    notify_systemd("READY=1\n");
}

/// Sends one sd_notify message (a datagram to $NOTIFY_SOCKET; `@` means the abstract
/// namespace). False when not supervised by systemd or the send failed.
fn notify_systemd(message: &str) -> bool {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = NOTIFY_SOCKET.get() else {
        return false;
    };
    let bytes = path.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name),
        None => SocketAddr::from_pathname(path),
    };
    let sent =
        addr.and_then(|addr| UnixDatagram::unbound()?.send_to_addr(message.as_bytes(), &addr));
    match sent {
        Ok(_) => true,
        Err(e) => {
            log::warn!("systemd supervision error: sd_notify: {e}");
            false
        }
    }
}

/// Redis's `daemonize`: the parent exits, the child starts a new session with its standard
/// streams on /dev/null (so with no `logfile`, nothing is logged, as in Redis).
fn daemonize() {
    // SAFETY: fork with a single thread (see `setup`); the child continues as the server.
    match unsafe { libc::fork() } {
        -1 => {
            log::error!(
                "cannot daemonize: fork failed: {}",
                std::io::Error::last_os_error()
            );
            std::process::exit(1);
        }
        0 => {}
        _ => std::process::exit(0),
    }
    // SAFETY: plain system calls on descriptors this process owns.
    unsafe {
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR, 0);
        if fd != -1 {
            libc::dup2(fd, libc::STDIN_FILENO);
            libc::dup2(fd, libc::STDOUT_FILENO);
            libc::dup2(fd, libc::STDERR_FILENO);
            if fd > libc::STDERR_FILENO {
                libc::close(fd);
            }
        }
    }
}
