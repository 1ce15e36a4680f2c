//! Networking: the mio event loop ([`reactor`]) and per-connection buffers ([`conn`]).

pub mod busy;
pub mod conn;
pub mod reactor;

pub use reactor::Server;

use std::io;

/// Turns on TCP keepalive probes for a client socket, as Redis's `anetKeepAlive`: the first
/// probe after `interval` idle seconds, then every third of that, and the peer is dropped
/// after 3 unanswered probes.
pub fn set_keepalive(stream: &mio::net::TcpStream, interval: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    let idle = interval.min(i32::MAX as u32) as libc::c_int;
    let options: [(libc::c_int, libc::c_int, libc::c_int); 4] = [
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, idle),
        (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, (idle / 3).max(1)),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3),
    ];
    for (level, name, value) in options {
        // SAFETY: `fd` is the open socket of `stream`, borrowed for the whole call; the
        // option value is a c_int on the stack and its exact size is passed.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
