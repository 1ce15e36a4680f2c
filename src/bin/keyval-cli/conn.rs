//! The connection to the server: connecting (with redis-cli's error message), authenticating,
//! selecting the database, switching to RESP3, and sending commands.

use std::io::{self, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::format::Style;
use crate::reply::{Reply, encode_command, read_reply};

/// How long to wait for the TCP handshake before reporting the server unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where to connect and how to set the session up once connected.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// `AUTH [user] password` is sent first when a password is given.
    pub user: Option<String>,
    pub password: Option<String>,
    /// `SELECT db` is sent after AUTH when this is not 0.
    pub db: i64,
    /// `HELLO 3` is sent last when set (`-3`, or `HELLO 3` typed in the REPL).
    pub resp3: bool,
}

impl Target {
    /// `host:port`, as shown in the prompt and in error messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// An open, authenticated connection.
pub struct Connection {
    reader: BufReader<TcpStream>,
    /// How RESP3 push messages arriving before a command's reply are shown (None: dropped),
    /// as redis-cli shows them on a terminal and drops them otherwise.
    pub push_style: Option<Style>,
}

impl Connection {
    /// Connects to `target`, then sends AUTH and SELECT as configured.
    ///
    /// The error is the complete message to show, e.g.
    /// `Could not connect to 127.0.0.1:6374: Connection refused`.
    pub fn open(target: &Target) -> Result<Connection, String> {
        let stream = connect(&target.host, target.port).map_err(|e| {
            format!(
                "Could not connect to {}: {}",
                target.address(),
                describe(&e)
            )
        })?;
        // Each command is one write; Nagle would only delay the interactive round trip.
        stream
            .set_nodelay(true)
            .map_err(|e| format!("Could not configure the socket: {}", describe(&e)))?;
        let mut conn = Connection {
            reader: BufReader::with_capacity(64 * 1024, stream),
            push_style: None,
        };
        if let Some(password) = &target.password {
            let mut args = vec![b"AUTH".to_vec()];
            if let Some(user) = &target.user {
                args.push(user.as_bytes().to_vec());
            }
            args.push(password.as_bytes().to_vec());
            match conn.call(&args) {
                Ok(Reply::Error(e)) => {
                    return Err(format!("AUTH failed: {}", String::from_utf8_lossy(&e)));
                }
                Ok(_) => {}
                Err(e) => return Err(format!("AUTH failed: {}", describe(&e))),
            }
        }
        if target.db != 0 {
            let args = vec![b"SELECT".to_vec(), target.db.to_string().into_bytes()];
            match conn.call(&args) {
                Ok(Reply::Error(e)) => {
                    return Err(format!(
                        "SELECT {} failed: {}",
                        target.db,
                        String::from_utf8_lossy(&e)
                    ));
                }
                Ok(_) => {}
                Err(e) => return Err(format!("SELECT {} failed: {}", target.db, describe(&e))),
            }
        }
        if target.resp3 {
            match conn.call(&[b"HELLO".to_vec(), b"3".to_vec()]) {
                Ok(Reply::Error(e)) => {
                    return Err(format!("HELLO 3 failed: {}", String::from_utf8_lossy(&e)));
                }
                Ok(_) => {}
                Err(e) => return Err(format!("HELLO 3 failed: {}", describe(&e))),
            }
        }
        Ok(conn)
    }

    /// Sends one command and reads its whole reply (push messages that come first are shown
    /// or dropped, see [`Connection::push_style`]).
    pub fn call(&mut self, args: &[Vec<u8>]) -> io::Result<Reply> {
        self.send(args)?;
        self.read_skipping_pushes()
    }

    /// Sends one command without reading anything.
    pub fn send(&mut self, args: &[Vec<u8>]) -> io::Result<()> {
        self.reader.get_mut().write_all(&encode_command(args))
    }

    /// Sends several commands in one write (a pipeline); their replies are read with
    /// [`Connection::read_skipping_pushes`].
    pub fn send_all(&mut self, commands: &[Vec<Vec<u8>>]) -> io::Result<()> {
        let bytes: Vec<u8> = commands.iter().flat_map(|c| encode_command(c)).collect();
        self.reader.get_mut().write_all(&bytes)
    }

    /// Reads the next reply, whatever it is (pushes included).
    pub fn read(&mut self) -> io::Result<Reply> {
        read_reply(&mut self.reader)
    }

    /// Reads the next reply that is not a push message.
    pub fn read_skipping_pushes(&mut self) -> io::Result<Reply> {
        loop {
            let reply = self.read()?;
            let Reply::Push(items) = &reply else {
                return Ok(reply);
            };
            if let Some(style) = self.push_style {
                let mut text = Vec::new();
                if style == Style::Pretty
                    && let Some(keys) = invalidated_keys(items)
                {
                    // redis-cli's one-line form for client-side caching invalidations.
                    text.extend_from_slice(b"-> invalidate: ");
                    for (i, key) in keys.iter().enumerate() {
                        if i > 0 {
                            text.extend_from_slice(b", ");
                        }
                        text.push(b'\'');
                        text.extend_from_slice(key);
                        text.push(b'\'');
                    }
                    text.push(b'\n');
                } else {
                    style.render(&reply, &mut text);
                }
                let mut stdout = io::stdout().lock();
                stdout.write_all(&text)?;
                stdout.flush()?;
            }
        }
    }

    /// Waits up to `timeout` for a reply to start arriving; true when one has (or the
    /// server closed the connection, which the next read reports).
    pub fn wait_readable(&mut self, timeout: Duration) -> io::Result<bool> {
        if !self.reader.buffer().is_empty() {
            return Ok(true);
        }
        let mut poll_fd = libc::pollfd {
            fd: self.reader.get_ref().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd, for the duration of the call.
        let ready = unsafe { libc::poll(&mut poll_fd, 1, millis) };
        match ready {
            -1 => {
                let e = io::Error::last_os_error();
                // A signal (Ctrl-C) interrupts the wait: the caller checks its flag.
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
            0 => Ok(false),
            _ => Ok(true),
        }
    }

    /// The socket, for the modes that write raw bytes (`--pipe`).
    pub fn socket(&self) -> &TcpStream {
        self.reader.get_ref()
    }
}

/// The keys of a RESP3 `invalidate` push (`>2 invalidate [keys]`), if `items` is one.
fn invalidated_keys(items: &[Reply]) -> Option<Vec<&[u8]>> {
    match items {
        [Reply::Bulk(kind), Reply::Array(keys)] if kind.starts_with(b"invalidate") => keys
            .iter()
            .map(|k| match k {
                Reply::Bulk(k) => Some(k.as_slice()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// Connects to the first address of `host` that accepts, like redis-cli (which tries each
/// resolved address in turn).
fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "Name or service not known")))
}

/// An I/O error as redis-cli words it: the OS message without Rust's " (os error N)" suffix,
/// e.g. `Connection refused`.
pub fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(cut) if text.ends_with(')') => text[..cut].to_string(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_drops_the_os_error_number() {
        let refused = io::Error::from_raw_os_error(111);
        assert_eq!(describe(&refused), "Connection refused");
        let custom = io::Error::other("Server closed the connection");
        assert_eq!(describe(&custom), "Server closed the connection");
    }
}
