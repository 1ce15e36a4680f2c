//! `--bigkeys` and `--memkeys`: a SCAN over the whole keyspace that asks each key's type and
//! size (STRLEN, LLEN, SCARD, HLEN, ZCARD, XLEN; or MEMORY USAGE) in pipelines, reports each
//! new biggest key per type as it is found, and ends with redis-cli's summary. `-i` pauses
//! every 100 SCAN calls; Ctrl-C stops the scan and prints the summary of what was seen.

use std::io::{self, Write};

use super::scan::scan_step;
use super::{Output, pause};
use crate::conn::{Connection, describe};
use crate::format::quote;
use crate::interrupt;
use crate::reply::Reply;

/// What is known of one type.
struct TypeStats {
    name: String,
    /// The command giving a key's size, `None` for types it has no size command for.
    size_command: Option<&'static str>,
    unit: &'static str,
    count: u64,
    total: u64,
    biggest: u64,
    /// The biggest key's name, quoted as redis-cli quotes it.
    biggest_key: Option<String>,
}

impl TypeStats {
    fn new(name: &str, size_command: Option<&'static str>, unit: &'static str) -> TypeStats {
        TypeStats {
            name: name.to_string(),
            size_command,
            unit,
            count: 0,
            total: 0,
            biggest: 0,
            biggest_key: None,
        }
    }
}

/// The six types redis-cli knows, in the order it registers them.
fn known_types() -> Vec<TypeStats> {
    vec![
        TypeStats::new("string", Some("STRLEN"), "bytes"),
        TypeStats::new("list", Some("LLEN"), "items"),
        TypeStats::new("set", Some("SCARD"), "members"),
        TypeStats::new("hash", Some("HLEN"), "fields"),
        TypeStats::new("zset", Some("ZCARD"), "members"),
        TypeStats::new("stream", Some("XLEN"), "entries"),
    ]
}

/// The order redis-cli's summary lists the six types in. redis-cli keeps them in its own hash
/// table (seeded with zeros, so the order is fixed) and lists them in the table's order, which
/// changes while the table finishes growing: each type lookup (one per key seen) moves it on,
/// and after two lookups it is final. Measured on redis-cli 7.0.15 for 0, 1 and 2+ keys.
fn summary_order(lookups: u64) -> [&'static str; 6] {
    match lookups {
        0 => ["hash", "list", "string", "stream", "set", "zset"],
        1 => ["string", "list", "hash", "stream", "set", "zset"],
        _ => ["list", "hash", "string", "stream", "set", "zset"],
    }
}

/// `%05.2f` as C prints it (C pads NaN and infinities with spaces, not zeros).
fn percent(value: f64) -> String {
    if value.is_nan() {
        format!("{:>5}", "-nan")
    } else if value.is_infinite() {
        format!("{:>5}", "inf")
    } else {
        format!("{value:05.2}")
    }
}

/// Runs the mode; `memory` is `--memkeys` (with `samples` for MEMORY USAGE's SAMPLES, 0 for
/// the server's default). The error is the message to print.
pub fn run(
    conn: &mut Connection,
    memory: bool,
    samples: u64,
    interval: f64,
    _output: Output,
) -> Result<(), String> {
    let _catching = interrupt::Catching::start();
    let mut types = known_types();
    let total_keys = match super::call(conn, &[b"DBSIZE"])? {
        Reply::Integer(n) => n.max(0) as u64,
        Reply::Error(e) => {
            return Err(format!(
                "Couldn't determine DBSIZE: {}",
                String::from_utf8_lossy(&e)
            ));
        }
        _ => return Err("Non INTEGER response from DBSIZE!".into()),
    };
    let mut out = io::stdout().lock();
    let mut say = |text: String| {
        // A closed stdout cannot stop the scan from finishing cleanly.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    };
    say(concat!(
        "\n# Scanning the entire keyspace to find biggest keys as well as\n",
        "# average sizes per key type.  You can use -i 0.1 to sleep 0.1 sec\n",
        "# per 100 SCAN commands (not usually needed).\n\n"
    )
    .to_string());

    let (mut sampled, mut total_length, mut lookups, mut scans) = (0u64, 0u64, 0u64, 0u64);
    let mut cursor = b"0".to_vec();
    let mut pct;
    loop {
        pct = 100.0 * sampled as f64 / total_keys as f64;
        let (next, keys) = scan_step(conn, &cursor, None)?;
        scans += 1;
        let key_types = lookup_types(conn, &keys, &mut types)?;
        lookups += keys.len() as u64;
        let sizes = lookup_sizes(conn, &keys, &key_types, &types, memory, samples)?;
        for ((key, kind), size) in keys.iter().zip(&key_types).zip(&sizes) {
            // A key that disappeared between SCAN and TYPE.
            let Some(kind) = *kind else { continue };
            let stats = &mut types[kind];
            stats.total += size;
            stats.count += 1;
            total_length += key.len() as u64;
            sampled += 1;
            if stats.biggest < *size {
                let name = quote(key);
                let unit = if memory { "bytes" } else { stats.unit };
                say(format!(
                    "[{}%] Biggest {:<6} found so far '{name}' with {size} {unit}\n",
                    percent(pct),
                    stats.name
                ));
                stats.biggest = *size;
                stats.biggest_key = Some(name);
            }
            if sampled % 1_000_000 == 0 {
                say(format!(
                    "[{}%] Sampled {sampled} keys so far\n",
                    percent(pct)
                ));
            }
        }
        if interval > 0.0 && scans % 100 == 0 {
            pause(interval);
        }
        cursor = next;
        if cursor == b"0" || interrupt::interrupted() {
            break;
        }
    }

    say("\n-------- summary -------\n\n".to_string());
    if interrupt::interrupted() {
        say(format!("[{}%] ", percent(pct)));
    }
    let average = if total_length > 0 {
        total_length as f64 / sampled as f64
    } else {
        0.0
    };
    say(format!(
        "Sampled {sampled} keys in the keyspace!\nTotal key length in bytes is {total_length} (avg len {average:.2})\n\n"
    ));
    let order = summary_order(lookups);
    let position = |t: &TypeStats| {
        order
            .iter()
            .position(|name| *name == t.name)
            .unwrap_or(order.len())
    };
    // Types the server made up (modules) come after the six, in the order they were met.
    types.sort_by_key(position);
    for stats in &types {
        if let Some(key) = &stats.biggest_key {
            let unit = if memory { "bytes" } else { stats.unit };
            say(format!(
                "Biggest {:>6} found '{key}' has {} {unit}\n",
                stats.name, stats.biggest
            ));
        }
    }
    say("\n".to_string());
    for stats in &types {
        let unit = if memory { "bytes" } else { stats.unit };
        let share = if sampled > 0 {
            100.0 * stats.count as f64 / sampled as f64
        } else {
            0.0
        };
        let average = if stats.count > 0 {
            stats.total as f64 / stats.count as f64
        } else {
            0.0
        };
        say(format!(
            "{} {}s with {} {unit} ({}% of keys, avg size {average:.2})\n",
            stats.count,
            stats.name,
            stats.total,
            percent(share)
        ));
    }
    Ok(())
}

/// TYPE for every key, pipelined: each key's index in `types` (None: the key is gone). A
/// type not seen before is added.
fn lookup_types(
    conn: &mut Connection,
    keys: &[Vec<u8>],
    types: &mut Vec<TypeStats>,
) -> Result<Vec<Option<usize>>, String> {
    let commands: Vec<Vec<Vec<u8>>> = keys
        .iter()
        .map(|k| vec![b"TYPE".to_vec(), k.clone()])
        .collect();
    conn.send_all(&commands).map_err(io_error)?;
    let mut found = Vec::with_capacity(keys.len());
    for key in keys {
        let name = match conn.read_skipping_pushes().map_err(io_error)? {
            Reply::Status(name) => String::from_utf8_lossy(&name).into_owned(),
            Reply::Error(e) => {
                return Err(format!(
                    "TYPE returned an error: {}",
                    String::from_utf8_lossy(&e)
                ));
            }
            other => {
                return Err(format!(
                    "Invalid reply type ({other:?}) for TYPE on key '{}'!",
                    String::from_utf8_lossy(key)
                ));
            }
        };
        if name == "none" {
            found.push(None);
            continue;
        }
        let index = match types.iter().position(|t| t.name == name) {
            Some(index) => index,
            None => {
                types.push(TypeStats::new(&name, None, "?"));
                types.len() - 1
            }
        };
        found.push(Some(index));
    }
    Ok(found)
}

/// Every key's size, pipelined (0 for keys without a size, and, with a warning, for keys
/// whose size command failed: they changed type in between).
fn lookup_sizes(
    conn: &mut Connection,
    keys: &[Vec<u8>],
    key_types: &[Option<usize>],
    types: &[TypeStats],
    memory: bool,
    samples: u64,
) -> Result<Vec<u64>, String> {
    let size_command = |kind: Option<usize>, key: &[u8]| -> Option<Vec<Vec<u8>>> {
        let stats = &types[kind?];
        if memory {
            let mut command = vec![b"MEMORY".to_vec(), b"USAGE".to_vec(), key.to_vec()];
            if samples > 0 {
                command.extend([b"SAMPLES".to_vec(), samples.to_string().into_bytes()]);
            }
            Some(command)
        } else {
            Some(vec![stats.size_command?.as_bytes().to_vec(), key.to_vec()])
        }
    };
    let commands: Vec<Option<Vec<Vec<u8>>>> = keys
        .iter()
        .zip(key_types)
        .map(|(key, kind)| size_command(*kind, key))
        .collect();
    let to_send: Vec<Vec<Vec<u8>>> = commands.iter().flatten().cloned().collect();
    conn.send_all(&to_send).map_err(io_error)?;
    let mut sizes = Vec::with_capacity(keys.len());
    for (key, command) in keys.iter().zip(&commands) {
        let Some(command) = command else {
            sizes.push(0);
            continue;
        };
        match conn.read_skipping_pushes().map_err(io_error)? {
            Reply::Integer(n) => sizes.push(n.max(0) as u64),
            _ => {
                let name = if memory {
                    "MEMORY USAGE".to_string()
                } else {
                    String::from_utf8_lossy(&command[0]).into_owned()
                };
                eprintln!(
                    "Warning:  {name} on '{}' failed (may have changed type)",
                    String::from_utf8_lossy(key)
                );
                sizes.push(0);
            }
        }
    }
    Ok(sizes)
}

fn io_error(e: io::Error) -> String {
    format!("\nI/O error: {}", describe(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_as_c_prints_them() {
        assert_eq!(percent(0.0), "00.00");
        assert_eq!(percent(5.5), "05.50");
        assert_eq!(percent(14.2857), "14.29");
        assert_eq!(percent(100.0), "100.00");
        assert_eq!(percent(f64::NAN), " -nan");
    }

    #[test]
    fn the_summary_lists_every_known_type_once() {
        for lookups in 0..4 {
            let mut names: Vec<_> = summary_order(lookups).to_vec();
            names.sort_unstable();
            let mut known: Vec<_> = known_types().into_iter().map(|t| t.name).collect();
            known.sort_unstable();
            assert_eq!(names, known);
        }
    }
}
