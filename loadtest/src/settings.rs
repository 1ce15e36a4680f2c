//! Settings shared by the three tools: each comes from an environment variable (`HOST`,
//! `CLIENTS`, ...) and can also be given as a flag (`--host`, `--clients`, ...); a flag wins.
//!
//! The defaults differ per tool (stress opens 200 clients, the tester one), so each binary calls
//! [`parse`] with its own [`Defaults`] instead of baking them into the derive attributes.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser};

/// Default server address, the same as rust-keyval's default bind address.
pub const DEFAULT_HOST: &str = "127.0.0.1:6374";

/// Workload settings common to tester, stress and loadtest.
#[derive(Args, Debug, Clone)]
pub struct Settings {
    /// Server address as host:port (a bare host means port 6374).
    #[arg(long, env = "HOST", default_value = DEFAULT_HOST)]
    pub host: String,
    /// Number of concurrent TCP connections.
    #[arg(long, env = "CLIENTS", value_parser = clap::value_parser!(u64).range(1..))]
    pub clients: u64,
    /// Operations (commands) per client; ignored when DURATION is set.
    #[arg(long, env = "OPS", value_parser = clap::value_parser!(u64).range(1..))]
    pub ops: u64,
    /// Pipeline depth: commands written together before waiting for their replies.
    #[arg(long, env = "PIPE", value_parser = clap::value_parser!(u64).range(1..))]
    pub pipe: u64,
    /// Read timeout in milliseconds: how long a reply may take before it counts as lost.
    #[arg(long = "rt", env = "RT", value_parser = clap::value_parser!(u64).range(1..))]
    pub rt_ms: u64,
    /// Number of distinct keys the workload spreads over.
    #[arg(long, env = "KEYSPACE", value_parser = clap::value_parser!(u64).range(1..))]
    pub keyspace: u64,
    /// Size in bytes of the values written by SET and APPEND.
    #[arg(long, env = "VALUE_SIZE")]
    pub value_size: usize,
    /// Command mix as weights, e.g. get=60,set=30,incr=10. Known commands: get, set, incr, del,
    /// exists, append, strlen, mget, echo, ping, evalincr (EVALSHA of an INCR script), evalrl
    /// (EVALSHA of a ten-command rate-limiter script).
    #[arg(long, env = "MIX")]
    pub mix: Mix,
    /// Run for this many seconds instead of a fixed number of operations.
    #[arg(long, env = "DURATION", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
}

impl Settings {
    /// The read timeout as a [`Duration`].
    pub fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.rt_ms)
    }

    /// Resolves [`Settings::host`] to a socket address.
    pub fn addr(&self) -> Result<SocketAddr, String> {
        resolve(&self.host)
    }
}

/// Per-tool default values, as the strings a user would type.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    pub clients: &'static str,
    pub ops: &'static str,
    pub pipe: &'static str,
    pub rt_ms: &'static str,
    pub keyspace: &'static str,
    pub value_size: &'static str,
    pub mix: &'static str,
}

/// Parses the process's arguments and environment into the tool's CLI struct `T`, which must
/// flatten a [`Settings`], using `defaults` for the settings not given. Exits with a usage
/// message on bad input, like any clap program.
pub fn parse<T: Parser>(defaults: &Defaults) -> T {
    parse_from(defaults, std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// [`parse`] over explicit arguments (the first one is the program name); used by tests.
pub fn parse_from<T, I, S>(defaults: &Defaults, args: I) -> Result<T, clap::Error>
where
    T: Parser,
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let pairs = [
        ("clients", defaults.clients),
        ("ops", defaults.ops),
        ("pipe", defaults.pipe),
        ("rt_ms", defaults.rt_ms),
        ("keyspace", defaults.keyspace),
        ("value_size", defaults.value_size),
        ("mix", defaults.mix),
    ];
    let mut cmd = T::command();
    for (id, value) in pairs {
        cmd = cmd.mut_arg(id, |arg| arg.default_value(value).required(false));
    }
    let matches = cmd.try_get_matches_from(args)?;
    T::from_arg_matches(&matches)
}

/// Resolves `host:port` (or a bare host, meaning port 6374) to its first socket address.
pub fn resolve(host: &str) -> Result<SocketAddr, String> {
    let with_port = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:6374")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve HOST {host:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("HOST {host:?} resolves to no address"))
}

/// Parses seconds given as `10`, `2.5` or `10s` (a clap value parser for any duration flag).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let number = s.strip_suffix('s').unwrap_or(s);
    let secs: f64 = number
        .parse()
        .map_err(|_| format!("expected a number of seconds, got {s:?}"))?;
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!("DURATION must be positive, got {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// One kind of command a workload can issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    Set,
    Incr,
    Del,
    Exists,
    Append,
    Strlen,
    Mget,
    Echo,
    Ping,
    /// EVALSHA of [`crate::scripts::INCR`] on a counter key.
    EvalIncr,
    /// EVALSHA of [`crate::scripts::RATE_LIMIT`], a ten-command rate limiter.
    EvalRateLimit,
}

impl Op {
    const ALL: [Op; 12] = [
        Op::Get,
        Op::Set,
        Op::Incr,
        Op::Del,
        Op::Exists,
        Op::Append,
        Op::Strlen,
        Op::Mget,
        Op::Echo,
        Op::Ping,
        Op::EvalIncr,
        Op::EvalRateLimit,
    ];

    /// The lowercase name used in MIX.
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Incr => "incr",
            Op::Del => "del",
            Op::Exists => "exists",
            Op::Append => "append",
            Op::Strlen => "strlen",
            Op::Mget => "mget",
            Op::Echo => "echo",
            Op::Ping => "ping",
            Op::EvalIncr => "evalincr",
            Op::EvalRateLimit => "evalrl",
        }
    }
}

/// A weighted command mix such as `get=60,set=30,incr=10`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    /// (command, cumulative weight) pairs, so picking is one scan.
    cumulative: Vec<(Op, u64)>,
}

impl Mix {
    /// Picks a command given a uniform random number.
    pub fn pick(&self, random: u64) -> Op {
        let total = self.cumulative.last().map_or(1, |&(_, w)| w);
        let r = random % total;
        self.cumulative
            .iter()
            .find(|&&(_, upto)| r < upto)
            .map_or(Op::Ping, |&(op, _)| op)
    }

    /// True when the mix runs scripts (they must be loaded first).
    pub fn has_scripts(&self) -> bool {
        self.ops()
            .any(|op| matches!(op, Op::EvalIncr | Op::EvalRateLimit))
    }

    /// The commands with a non-zero weight.
    pub fn ops(&self) -> impl Iterator<Item = Op> + '_ {
        self.cumulative.iter().map(|&(op, _)| op)
    }
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Mix, String> {
        let mut cumulative = Vec::new();
        let mut total = 0u64;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("expected name=weight, got {part:?}"))?;
            let op = Op::ALL
                .into_iter()
                .find(|op| op.name().eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| {
                    let known: Vec<_> = Op::ALL.iter().map(|op| op.name()).collect();
                    format!("unknown command {name:?} (known: {})", known.join(", "))
                })?;
            let weight: u64 = weight
                .trim()
                .parse()
                .map_err(|_| format!("weight of {name} is not a number: {weight:?}"))?;
            if weight > 0 {
                total += weight;
                cumulative.push((op, total));
            }
        }
        if total == 0 {
            return Err(format!("MIX {s:?} has no command with a positive weight"));
        }
        Ok(Mix { cumulative })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut previous = 0;
        for (i, &(op, upto)) in self.cumulative.iter().enumerate() {
            if i > 0 {
                write!(f, ",")?;
            }
            write!(f, "{}={}", op.name(), upto - previous)?;
            previous = upto;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    const DEFAULTS: Defaults = Defaults {
        clients: "200",
        ops: "10",
        pipe: "1",
        rt_ms: "1000",
        keyspace: "100",
        value_size: "8",
        mix: "get=1",
    };

    #[test]
    fn defaults_apply_and_flags_override() {
        let cli: Cli = parse_from(&DEFAULTS, ["t"]).unwrap();
        assert_eq!(cli.settings.clients, 200);
        assert_eq!(cli.settings.duration, None);
        let cli: Cli = parse_from(
            &DEFAULTS,
            ["t", "--clients", "3", "--rt", "5", "--duration", "1.5"],
        )
        .unwrap();
        assert_eq!(cli.settings.clients, 3);
        assert_eq!(cli.settings.rt_ms, 5);
        assert_eq!(cli.settings.duration, Some(Duration::from_millis(1500)));
        assert!(parse_from::<Cli, _, _>(&DEFAULTS, ["t", "--pipe", "0"]).is_err());
    }

    #[test]
    fn mix_parses_and_picks_by_weight() {
        let mix: Mix = "get=60, set=30,incr=10,del=0".parse().unwrap();
        assert_eq!(mix.to_string(), "get=60,set=30,incr=10");
        assert_eq!(mix.pick(0), Op::Get);
        assert_eq!(mix.pick(59), Op::Get);
        assert_eq!(mix.pick(60), Op::Set);
        assert_eq!(mix.pick(99), Op::Incr);
        assert_eq!(mix.pick(100), Op::Get);
        assert!("get=0".parse::<Mix>().is_err());
        assert!("fly=1".parse::<Mix>().is_err());
        assert!("get".parse::<Mix>().is_err());
    }

    #[test]
    fn host_without_port_means_6374() {
        assert_eq!(resolve("127.0.0.1").unwrap().port(), 6374);
        assert_eq!(resolve("127.0.0.1:7000").unwrap().port(), 7000);
    }
}
