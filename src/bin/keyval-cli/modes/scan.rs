//! `--scan [--pattern P]`: every key, from a SCAN loop, one per line (quoted as redis-cli
//! quotes on a terminal, raw otherwise). `-i` pauses between SCAN calls; Ctrl-C stops.

use std::io::{self, Write};

use super::{Output, call, pause};
use crate::conn::Connection;
use crate::format::quote;
use crate::interrupt;
use crate::reply::Reply;

/// One SCAN call: the next cursor and the keys. Errors are redis-cli's messages.
pub fn scan_step(
    conn: &mut Connection,
    cursor: &[u8],
    pattern: Option<&[u8]>,
) -> Result<(Vec<u8>, Vec<Vec<u8>>), String> {
    let mut args: Vec<&[u8]> = vec![b"SCAN", cursor];
    if let Some(pattern) = pattern {
        args.extend([b"MATCH".as_slice(), pattern]);
    }
    match call(conn, &args)? {
        Reply::Error(e) => Err(format!("SCAN error: {}", String::from_utf8_lossy(&e))),
        Reply::Array(items) => match <[Reply; 2]>::try_from(items) {
            Ok([Reply::Bulk(next), Reply::Array(keys)]) => {
                let keys = keys
                    .into_iter()
                    .map(|k| match k {
                        Reply::Bulk(k) => Ok(k),
                        _ => Err("Non string key in the reply of SCAN!".to_string()),
                    })
                    .collect::<Result<_, _>>()?;
                Ok((next, keys))
            }
            Ok(_) => Err("Unexpected element types in the reply of SCAN!".into()),
            Err(_) => Err("Invalid element count from SCAN!".into()),
        },
        _ => Err("Non ARRAY response from SCAN!".into()),
    }
}

/// Runs the mode; the error is the message to print.
pub fn run(
    conn: &mut Connection,
    pattern: Option<&[u8]>,
    interval: f64,
    output: Output,
) -> Result<(), String> {
    let _catching = interrupt::Catching::start();
    let mut cursor = b"0".to_vec();
    let mut stdout = io::stdout().lock();
    loop {
        let (next, keys) = scan_step(conn, &cursor, pattern)?;
        let mut text = Vec::new();
        for key in keys {
            if output == Output::Standard {
                text.extend_from_slice(quote(&key).as_bytes());
            } else {
                text.extend_from_slice(&key);
            }
            text.push(b'\n');
        }
        if stdout
            .write_all(&text)
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return Ok(()); // `--scan | head`
        }
        pause(interval);
        cursor = next;
        if cursor == b"0" || interrupt::interrupted() {
            return Ok(());
        }
    }
}
