//! `--stat`: a line of server figures from INFO every second (or `-i` seconds), under
//! redis-cli's two header lines repeated every 20 lines:
//!
//! ```text
//! ------- data ------ --------------------- load -------------------- - child -
//! keys       mem      clients blocked requests            connections
//! 3          1.02M    1       0       124 (+0)            5
//! ```
//!
//! Runs until interrupted or the server is gone.

use std::io::{self, Write};

use super::{Output, call, pause};
use crate::conn::Connection;
use crate::reply::Reply;

const HEADER: &str = "------- data ------ --------------------- load -------------------- - child -\nkeys       mem      clients blocked requests            connections          \n";

/// A field of an INFO text (`name:value` lines), as an integer.
fn field(info: &str, name: &str) -> Option<i64> {
    info.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(':')?;
        value.trim_end().parse().ok()
    })
}

/// The sum of `keys=` over the `dbN:` lines.
fn total_keys(info: &str) -> i64 {
    info.lines()
        .filter(|line| {
            line.strip_prefix("db")
                .and_then(|rest| rest.split_once(':'))
                .is_some_and(|(n, _)| n.parse::<u32>().is_ok())
        })
        .filter_map(|line| {
            let keys = line.split_once("keys=")?.1;
            keys.split(',').next()?.parse::<i64>().ok()
        })
        .sum()
}

/// Bytes as redis-cli shows them: `512B`, `1.50K`, `2.00M`, `1.00G`.
pub fn bytes_to_human(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    let n = n.unsigned_abs() as f64;
    const K: f64 = 1024.0;
    if n < K {
        format!("{sign}{n}B")
    } else if n < K * K {
        format!("{sign}{:.2}K", n / K)
    } else if n < K * K * K {
        format!("{sign}{:.2}M", n / (K * K))
    } else {
        format!("{sign}{:.2}G", n / (K * K * K))
    }
}

/// One line of the table from an INFO text; `previous_requests` is the last line's count.
fn line(info: &str, previous_requests: Option<i64>) -> (String, i64) {
    let number = |name: &str| field(info, name).map_or("-".to_string(), |v| v.to_string());
    let requests = field(info, "total_commands_processed").unwrap_or(0);
    let delta = previous_requests.map_or(0, |p| requests - p);
    let mut text = format!(
        "{:<11}{:<8} {:<8}{:<8}{:<19} {:<12}",
        total_keys(info),
        bytes_to_human(field(info, "used_memory").unwrap_or(0)),
        number("connected_clients"),
        number("blocked_clients"),
        format!("{requests} (+{delta})"),
        number("total_connections_received"),
    );
    let flag = |name: &str| field(info, name).unwrap_or(0) & 1;
    let children = flag("rdb_bgsave_in_progress")
        | flag("aof_rewrite_in_progress") << 1
        | flag("loading") << 2;
    text.push_str(match children {
        1 => "SAVE",
        2 => "AOF",
        3 => "SAVE+AOF",
        4 => "LOAD",
        _ => "",
    });
    text.push('\n');
    (text, requests)
}

/// Runs the mode until an error; the error is the message to print.
pub fn run(conn: &mut Connection, interval: f64, _output: Output) -> Result<(), String> {
    let interval = if interval > 0.0 { interval } else { 1.0 };
    let mut previous = None;
    let mut stdout = io::stdout().lock();
    for lines in 0u64.. {
        let info = match call(conn, &[b"INFO"])? {
            Reply::Error(e) => return Err(format!("ERROR: {}", String::from_utf8_lossy(&e))),
            reply => match reply.as_bytes() {
                Some(text) => String::from_utf8_lossy(text).into_owned(),
                None => return Err("Non string response from INFO!".into()),
            },
        };
        let mut text = String::new();
        if lines % 20 == 0 {
            text.push_str(HEADER);
        }
        let (row, requests) = line(&info, previous);
        previous = Some(requests);
        text.push_str(&row);
        if stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return Ok(());
        }
        pause(interval);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes() {
        assert_eq!(bytes_to_human(512), "512B");
        assert_eq!(bytes_to_human(1536), "1.50K");
        assert_eq!(bytes_to_human(2 * 1024 * 1024), "2.00M");
        assert_eq!(bytes_to_human(-2048), "-2.00K");
    }

    #[test]
    fn a_line_from_info() {
        let info = "# Clients\r\nconnected_clients:3\r\nblocked_clients:0\r\n# Memory\r\nused_memory:1048576\r\n# Stats\r\ntotal_connections_received:7\r\ntotal_commands_processed:120\r\n# Persistence\r\nloading:0\r\nrdb_bgsave_in_progress:1\r\naof_rewrite_in_progress:0\r\n# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\ndb3:keys=2,expires=1,avg_ttl=9\r\n";
        let (first, requests) = line(info, None);
        assert_eq!(
            first,
            "7          1.00M    3       0       120 (+0)            7           SAVE\n"
        );
        let (second, _) = line(info, Some(requests - 4));
        assert!(second.contains("120 (+4)"), "{second}");
    }
}
