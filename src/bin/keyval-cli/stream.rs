//! Commands after which the server keeps sending: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and
//! MONITOR. As in redis-cli, their messages are printed as they arrive until the connection
//! closes, an error reply comes (the subscription or MONITOR was refused), or, inside an
//! [`interrupt::Catching`] section (the interactive mode), Ctrl-C is pressed.

use std::io::{self, Write};
use std::time::Duration;

use crate::conn::Connection;
use crate::format::Style;
use crate::interrupt;
use crate::reply::Reply;

/// How often a waiting stream looks at the Ctrl-C flag.
const INTERRUPT_CHECK: Duration = Duration::from_millis(50);

/// Which kind of streaming command `args` is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streaming {
    PubSub,
    Monitor,
}

pub fn streaming_kind(args: &[Vec<u8>]) -> Option<Streaming> {
    let name = args.first()?.to_ascii_lowercase();
    match name.as_slice() {
        b"subscribe" | b"psubscribe" | b"ssubscribe" => Some(Streaming::PubSub),
        b"monitor" => Some(Streaming::Monitor),
        _ => None,
    }
}

/// Why a stream ended.
#[derive(Debug)]
pub enum End {
    /// Ctrl-C (only inside a catching section).
    Interrupted,
    /// The server refused: this error reply (not printed yet).
    ErrorReply(Reply),
    /// The connection failed or closed.
    Lost(io::Error),
    /// Our stdout was closed (`... | head`).
    OutputClosed,
}

/// Sends `args` and prints every reply that follows, in `style`, until the stream ends.
pub fn follow(conn: &mut Connection, args: &[Vec<u8>], kind: Streaming, style: Style) -> End {
    if kind == Streaming::PubSub && style != Style::Plain {
        // redis-cli says so except in raw output, where it would pollute the data.
        println!("Reading messages... (press Ctrl-C to quit)");
    }
    if let Err(e) = conn.send(args) {
        return End::Lost(e);
    }
    loop {
        match conn.wait_readable(INTERRUPT_CHECK) {
            Ok(false) => {
                if interrupt::interrupted() {
                    return End::Interrupted;
                }
                continue;
            }
            Ok(true) => {}
            Err(e) => return End::Lost(e),
        }
        // Pushes are the messages here, so they are read like any reply.
        let reply = match conn.read() {
            Ok(reply) => reply,
            Err(e) => return End::Lost(e),
        };
        if reply.is_error() {
            return End::ErrorReply(reply);
        }
        let mut text = Vec::new();
        style.render(&reply, &mut text);
        let mut stdout = io::stdout().lock();
        // Flushed per message, so `keyval-cli SUBSCRIBE ch | grep` sees each at once.
        if stdout
            .write_all(&text)
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return End::OutputClosed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_commands() {
        let kind = |name: &str| streaming_kind(&[name.as_bytes().to_vec()]);
        assert_eq!(kind("SUBSCRIBE"), Some(Streaming::PubSub));
        assert_eq!(kind("psubscribe"), Some(Streaming::PubSub));
        assert_eq!(kind("ssubscribe"), Some(Streaming::PubSub));
        assert_eq!(kind("Monitor"), Some(Streaming::Monitor));
        assert_eq!(kind("PUBLISH"), None);
        assert_eq!(streaming_kind(&[]), None);
    }
}
