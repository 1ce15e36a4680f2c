//! `--pipe`: mass insertion. Standard input (commands in RESP, or inline commands) is copied
//! to the server as fast as it takes it while the replies are read and counted; at the end of
//! the input an ECHO of 20 random bytes is sent, and its reply tells that every reply has
//! arrived. Prints redis-cli's lines:
//!
//! ```text
//! All data transferred. Waiting for the last reply...
//! Last reply received from server.
//! errors: 0, replies: 1000
//! ```
//!
//! Error replies are printed on stderr and make the exit status 1. With `--pipe-timeout N`
//! (default 30, 0 = wait forever), N seconds without a reply after the end of the input end
//! the wait.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::conn::{Connection, describe};
use crate::reply::Reply;

/// How long one wait for a reply lasts before the timeout is looked at again.
const POLL: Duration = Duration::from_millis(200);

/// 20 unpredictable bytes, so the input cannot contain the final ECHO's reply by chance.
fn magic() -> [u8; 20] {
    let mut bytes = [0u8; 20];
    for chunk in bytes.chunks_mut(8) {
        // RandomState is seeded from the OS's randomness for every instance.
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(std::process::id() as u64);
        let value = hasher.finish().to_le_bytes();
        chunk.copy_from_slice(&value[..chunk.len()]);
    }
    bytes
}

/// Runs the mode and returns whether no reply was an error; the error is the message to
/// print.
pub fn run(conn: &mut Connection, timeout_seconds: u64) -> Result<bool, String> {
    let magic = magic();
    let mut socket = conn
        .socket()
        .try_clone()
        .map_err(|e| format!("Can't duplicate the socket: {}", describe(&e)))?;
    // The writer tells the reader when the input has ended (the ECHO is on its way).
    let (input_done, input_done_rx) = mpsc::channel::<Result<(), String>>();
    thread::spawn(move || {
        let result = copy_input(&mut socket, &magic);
        let _ = input_done.send(result);
    });

    let (mut errors, mut replies) = (0u64, 0u64);
    let mut input_ended = false;
    let mut last_reply = Instant::now();
    loop {
        if !input_ended {
            match input_done_rx.try_recv() {
                Ok(Ok(())) => {
                    input_ended = true;
                    last_reply = Instant::now();
                }
                Ok(Err(message)) => return Err(message),
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err("The input thread stopped unexpectedly".into());
                }
            }
        }
        let ready = conn
            .wait_readable(POLL)
            .map_err(|e| format!("Error reading replies from server: {}", describe(&e)))?;
        if !ready {
            if input_ended
                && timeout_seconds > 0
                && last_reply.elapsed() > Duration::from_secs(timeout_seconds)
            {
                eprintln!("No replies for {timeout_seconds} seconds: exiting.");
                errors += 1;
                break;
            }
            continue;
        }
        let reply = conn
            .read()
            .map_err(|e| format!("Error reading replies from server: {}", describe(&e)))?;
        last_reply = Instant::now();
        match reply {
            Reply::Error(text) => {
                eprintln!("{}", String::from_utf8_lossy(&text));
                errors += 1;
                replies += 1;
            }
            Reply::Bulk(text) if text == magic => {
                println!("Last reply received from server.");
                break;
            }
            _ => replies += 1,
        }
    }
    println!("errors: {errors}, replies: {replies}");
    let _ = io::stdout().flush();
    Ok(errors == 0)
}

/// Copies standard input to the server, then prints the end-of-input line and sends the
/// ECHO of `magic`.
fn copy_input(socket: &mut std::net::TcpStream, magic: &[u8; 20]) -> Result<(), String> {
    let mut stdin = io::stdin().lock();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match stdin.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("Error reading from stdin: {}", describe(&e))),
        };
        socket
            .write_all(&buffer[..read])
            .map_err(|e| format!("Error writing to the server: {}", describe(&e)))?;
    }
    println!("All data transferred. Waiting for the last reply...");
    let _ = io::stdout().flush();
    // The CRLF first ends a last line the input may have left unterminated (the server
    // ignores an empty line), so the ECHO is still read as a command of its own.
    let mut echo = b"\r\n*2\r\n$4\r\nECHO\r\n$20\r\n".to_vec();
    echo.extend_from_slice(magic);
    echo.extend_from_slice(b"\r\n");
    socket
        .write_all(&echo)
        .map_err(|e| format!("Error writing to the server: {}", describe(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_differs_between_runs() {
        assert_ne!(magic(), magic());
    }
}
