//! One-shot mode: the command given on the command line (or `--eval`'s script), run `-r`
//! times with `-i` seconds between runs, replies printed in the chosen style. An error reply
//! goes to stderr as `(error) ERR ...` (to stdout as `ERROR,"..."` with `--csv`, as
//! redis-cli does) and the exit status is then 1.

use std::io::{self, Write};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use crate::conn::{Connection, Target, describe};
use crate::format::Style;
use crate::reply::Reply;
use crate::stream::{self, End};

/// `-r` and `-i`.
#[derive(Debug, Clone, Copy)]
pub struct Repeat {
    /// Runs; negative: forever.
    pub count: i64,
    /// Seconds between runs.
    pub interval: f64,
}

/// Connects, runs `args` as `repeat` says and prints the replies.
pub fn run(target: &Target, args: &[Vec<u8>], repeat: Repeat, style: Style) -> ExitCode {
    let is_help = args
        .first()
        .is_some_and(|a| a.eq_ignore_ascii_case(b"help") || a.as_slice() == b"?");
    if is_help && args.len() == 1 {
        // As redis-cli: `keyval-cli help` prints the general help; nothing is sent.
        crate::repl::print_help(&[]);
        return ExitCode::SUCCESS;
    }
    let mut conn = match Connection::open(target) {
        Ok(conn) => conn,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    if is_help && args.len() > 1 {
        // As redis-cli: `help <topic>` is answered from the server's COMMAND DOCS.
        let reply = conn.call(&[b"COMMAND".to_vec(), b"DOCS".to_vec()]);
        if let Some(entries) = reply.ok().as_ref().and_then(crate::docs::from_command_docs) {
            let topic: Vec<String> = args[1..]
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            print!("{}", crate::docs::help_text(&entries, &topic));
            let _ = io::stdout().flush();
            return ExitCode::SUCCESS;
        }
    }
    let mut any_error = false;
    let mut done = 0;
    while repeat.count < 0 || done < repeat.count {
        if done > 0 && repeat.interval > 0.0 {
            thread::sleep(Duration::from_secs_f64(repeat.interval));
        }
        done += 1;
        if let Some(kind) = stream::streaming_kind(args) {
            // Runs until the connection closes (or the process is interrupted).
            return match stream::follow(&mut conn, args, kind, style) {
                End::ErrorReply(reply) => {
                    let _ = print_error(&reply, style);
                    ExitCode::FAILURE
                }
                End::Lost(e) => {
                    eprintln!("Error: {}", describe(&e));
                    ExitCode::FAILURE
                }
                End::Interrupted | End::OutputClosed => ExitCode::SUCCESS,
            };
        }
        let reply = match conn.call(args) {
            Ok(reply) => reply,
            Err(e) => {
                eprintln!("Error: {}", describe(&e));
                return ExitCode::FAILURE;
            }
        };
        let written = if reply.is_error() {
            any_error = true;
            print_error(&reply, style)
        } else {
            let mut text = Vec::new();
            style.render_reply_to(args, &reply, &mut text);
            let mut stdout = io::stdout().lock();
            stdout.write_all(&text).and_then(|()| stdout.flush())
        };
        match written {
            Ok(()) => {}
            // The reader went away (`keyval-cli KEYS | head`): nothing left to do.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break,
            Err(e) => {
                eprintln!("Error writing output: {}", describe(&e));
                return ExitCode::FAILURE;
            }
        }
    }
    if any_error {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// An error reply: stderr `(error) ...`, or the CSV line on stdout with `--csv`.
fn print_error(reply: &Reply, style: Style) -> io::Result<()> {
    let mut text = Vec::new();
    if style == Style::Csv {
        style.render(reply, &mut text);
        let mut stdout = io::stdout().lock();
        return stdout.write_all(&text).and_then(|()| stdout.flush());
    }
    if let Reply::Error(message) = reply {
        text.extend_from_slice(b"(error) ");
        text.extend_from_slice(message);
        text.push(b'\n');
    }
    io::stderr().write_all(&text)
}

/// `--eval FILE key1 key2 , arg1 arg2`: the EVAL command for the script in FILE, the
/// arguments before a lone `,` being keys. The error is the message to print.
pub fn eval_command(file: &str, rest: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, String> {
    let script =
        std::fs::read(file).map_err(|e| format!("Can't open file '{file}': {}", describe(&e)))?;
    let comma = rest.iter().position(|a| a == b",");
    let (keys, args) = match comma {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    let mut command = vec![
        b"EVAL".to_vec(),
        script,
        keys.len().to_string().into_bytes(),
    ];
    command.extend(keys.iter().cloned());
    command.extend(args.iter().cloned());
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_splits_keys_and_arguments_at_the_comma() {
        let dir = std::env::temp_dir().join(format!("keyval-cli-eval-{}", std::process::id()));
        std::fs::write(&dir, "return 1").unwrap();
        let words = |w: &[&str]| w.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        let file = dir.to_str().unwrap();
        assert_eq!(
            eval_command(file, &words(&["k1", "k2", ",", "a"])).unwrap(),
            words(&["EVAL", "return 1", "2", "k1", "k2", "a"])
        );
        assert_eq!(
            eval_command(file, &words(&["k1"])).unwrap(),
            words(&["EVAL", "return 1", "1", "k1"])
        );
        assert_eq!(
            eval_command(file, &[]).unwrap(),
            words(&["EVAL", "return 1", "0"])
        );
        std::fs::remove_file(&dir).unwrap();
        assert!(
            eval_command("/nonexistent/x.lua", &[])
                .unwrap_err()
                .starts_with("Can't open file '/nonexistent/x.lua': No such file")
        );
    }
}
