//! The connection to the server: connecting (with redis-cli's error message), authenticating,
//! selecting the database, and sending commands.

use std::io::{self, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

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
        Ok(conn)
    }

    /// Sends one command and reads its whole reply.
    pub fn call(&mut self, args: &[Vec<u8>]) -> io::Result<Reply> {
        self.reader.get_mut().write_all(&encode_command(args))?;
        read_reply(&mut self.reader)
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
