//! Geo commands end to end, differential against redis-server 7.0 (CI installs it): every
//! reply is compared byte for byte, in RESP2 and RESP3.
//!
//! * Random commands over random points (near the poles, across the antimeridian, at the
//!   edge of the valid latitudes, some at the same place so that distances tie), random
//!   radii and boxes and every option combination; STORE, STOREDIST and GEOSEARCHSTORE
//!   destinations are compared with ZRANGE WITHSCORES. One set stays small (Redis's
//!   listpack), one is big (its skiplist).
//! * A list of bad requests, each of Redis's errors, in Redis's order of checks.
//! * Sorted sets whose scores are not geohashes (negative, fractional, huge, infinite).
//! * Keyspace events as a RESP3 client subscribed to its own events sees them.
//! * What the append-only file gets (GEOADD is written as ZADD).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Client, Rng, Server, free_port, start_redis, text, wait_for};

/// A float in [0, 1).
fn unit(rng: &mut Rng) -> f64 {
    (rng.next() >> 11) as f64 / (1u64 << 53) as f64
}

/// A longitude: mostly anywhere, sometimes at or near ±180, sometimes out of range.
fn lon(rng: &mut Rng) -> String {
    match rng.below(20) {
        0 => rng
            .pick(&[
                "180",
                "-180",
                "179.99999999",
                "-179.9999999",
                "0",
                "-0",
                "1e-5",
            ])
            .into(),
        1 => format!("{:.7}", 179.0 + unit(rng)),
        2 => format!("{:.7}", -179.0 - unit(rng)),
        _ => format!("{:.6}", -180.0 + unit(rng) * 360.0),
    }
}

/// A latitude: mostly within ±85, sometimes at the Mercator limits or near the poles.
fn lat(rng: &mut Rng) -> String {
    match rng.below(20) {
        0 => rng
            .pick(&[
                "85.05112878",
                "-85.05112878",
                "85",
                "-85",
                "0",
                "84.9999999",
            ])
            .into(),
        1 => format!("{:.8}", 80.0 + unit(rng) * 5.05),
        2 => format!("{:.8}", -80.0 - unit(rng) * 5.05),
        3 => format!("{:.3}", 66.0 + unit(rng) * 2.0),
        _ => format!("{:.6}", -85.0 + unit(rng) * 170.0),
    }
}

/// A position; one time in 50 out of the valid range (an error).
fn position(rng: &mut Rng, anchors: &[(String, String)]) -> (String, String) {
    match rng.below(50) {
        0 => (
            rng.pick(&["180.0001", "-181", "0", "inf"]).into(),
            rng.pick(&["0", "85.06", "-90", "nan"]).into(),
        ),
        1..=9 => anchors[rng.below(anchors.len() as u64) as usize].clone(),
        _ => (lon(rng), lat(rng)),
    }
}

/// A unit, sometimes in capitals.
fn unit_name(rng: &mut Rng) -> &'static str {
    rng.pick(&["m", "km", "ft", "mi", "KM", "Mi", "m", "km"])
}

/// A radius with its unit: from 0 to the whole Earth.
fn radius(rng: &mut Rng) -> String {
    match rng.below(30) {
        0 => "0 m".into(),
        1 => "inf km".into(),
        2 => "20000 km".into(),
        3 => format!("{} km", 5000 + rng.below(15000)),
        4..=9 => format!("{} m", rng.below(5000)),
        10..=15 => format!("{}.{} mi", rng.below(300), rng.below(10)),
        _ => format!("{} {}", 1 + rng.below(2000), unit_name(rng)),
    }
}

/// BYRADIUS or BYBOX with their arguments.
fn area(rng: &mut Rng) -> String {
    if rng.below(2) == 0 {
        format!("BYRADIUS {}", radius(rng))
    } else {
        let side = |rng: &mut Rng| match rng.below(10) {
            0 => "0".to_string(),
            1 => format!("{}", 10000 + rng.below(30000)),
            _ => format!("{}", 1 + rng.below(3000)),
        };
        format!("BYBOX {} {} {}", side(rng), side(rng), unit_name(rng))
    }
}

/// Random search options, in random order: WITH*, ASC/DESC, COUNT [ANY].
fn options(rng: &mut Rng, with: bool) -> Vec<String> {
    let mut opts = Vec::new();
    if with {
        for o in ["WITHDIST", "WITHHASH", "WITHCOORD"] {
            if rng.below(3) == 0 {
                opts.push(o.to_string());
            }
        }
    }
    match rng.below(4) {
        0 => opts.push("ASC".into()),
        1 => opts.push("DESC".into()),
        _ => {}
    }
    if rng.below(2) == 0 {
        let n = match rng.below(4) {
            0 => 1,
            1 => 1 + rng.below(5),
            _ => 1 + rng.below(60),
        };
        let any = if rng.below(3) == 0 { " ANY" } else { "" };
        opts.push(format!("COUNT {n}{any}"));
    }
    // Shuffle (COUNT n stays together).
    for i in (1..opts.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        opts.swap(i, j);
    }
    opts
}

/// A member name, mostly of the set.
fn member(rng: &mut Rng, members: u64) -> String {
    if rng.below(30) == 0 {
        "nosuchmember".into()
    } else {
        format!("m{}", rng.below(members))
    }
}

/// One random geo command on `key` (sometimes on a missing key or a string); returns the
/// command and, for commands that store, the destination to compare afterwards.
fn random_command(
    rng: &mut Rng,
    key: &str,
    members: u64,
    anchors: &[(String, String)],
) -> (String, Option<String>) {
    let src = match rng.below(40) {
        0 => "nokey",
        1 => "str",
        _ => key,
    };
    let from = |rng: &mut Rng| {
        if rng.below(2) == 0 {
            format!("FROMMEMBER {}", member(rng, members))
        } else {
            let (x, y) = position(rng, anchors);
            format!("FROMLONLAT {x} {y}")
        }
    };
    match rng.below(20) {
        0..=2 => {
            let flags = rng.pick(&["", "NX ", "XX ", "CH ", "CH NX ", "XX CH ", "ch "]);
            let n = 1 + rng.below(4);
            let elems: Vec<String> = (0..n)
                .map(|_| {
                    let (x, y) = position(rng, anchors);
                    format!("{x} {y} {}", member(rng, members + 10))
                })
                .collect();
            (format!("GEOADD {src} {flags}{}", elems.join(" ")), None)
        }
        3 => {
            let u = if rng.below(2) == 0 {
                format!(" {}", unit_name(rng))
            } else {
                String::new()
            };
            let (a, b) = (member(rng, members), member(rng, members));
            (format!("GEODIST {src} {a} {b}{u}"), None)
        }
        4 => {
            let ms: Vec<String> = (0..1 + rng.below(4))
                .map(|_| member(rng, members))
                .collect();
            let cmd = rng.pick(&["GEOPOS", "GEOHASH"]);
            (format!("{cmd} {src} {}", ms.join(" ")), None)
        }
        5..=9 => {
            let mut parts = vec![from(rng), area(rng)];
            parts.extend(options(rng, true));
            // FROM and BY may come in either order, and among the options.
            for i in (1..parts.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                parts.swap(i, j);
            }
            (format!("GEOSEARCH {src} {}", parts.join(" ")), None)
        }
        10..=11 => {
            let mut parts = vec![from(rng), area(rng)];
            let with = rng.below(10) == 0;
            parts.extend(options(rng, with));
            if rng.below(2) == 0 {
                parts.push("STOREDIST".into());
            }
            for i in (1..parts.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                parts.swap(i, j);
            }
            let dst = if rng.below(60) == 0 { key } else { "dst" };
            (
                format!("GEOSEARCHSTORE {dst} {src} {}", parts.join(" ")),
                Some(dst.to_string()),
            )
        }
        12..=16 => {
            let ro = rng.below(3) == 0;
            let by_member = rng.below(2) == 0;
            let name = match (by_member, ro) {
                (false, false) => "GEORADIUS",
                (false, true) => "GEORADIUS_RO",
                (true, false) => "GEORADIUSBYMEMBER",
                (true, true) => "GEORADIUSBYMEMBER_RO",
            };
            let center = if by_member {
                member(rng, members)
            } else {
                let (x, y) = position(rng, anchors);
                format!("{x} {y}")
            };
            let store = !ro && rng.below(3) == 0;
            let with = !store || rng.below(10) == 0;
            let mut opts = options(rng, with);
            let mut dst = None;
            if store {
                let d = if rng.below(60) == 0 { key } else { "dst" };
                let how = if rng.below(2) == 0 {
                    "STORE"
                } else {
                    "STOREDIST"
                };
                opts.push(format!("{how} {d}"));
                dst = Some(d.to_string());
            }
            (
                format!("{name} {src} {center} {} {}", radius(rng), opts.join(" "))
                    .trim_end()
                    .to_string(),
                dst,
            )
        }
        17 => (format!("ZREM {src} {}", member(rng, members)), None),
        _ => (format!("ZCARD {src}"), None),
    }
}

/// Fills `key` with `n` random points (some at the anchors, so distances tie).
fn fill(c: &mut Client, rng: &mut Rng, key: &str, n: u64, anchors: &[(String, String)]) {
    let mut args = vec!["GEOADD".to_string(), key.to_string()];
    for i in 0..n {
        let (x, y) = if rng.below(5) == 0 {
            anchors[rng.below(anchors.len() as u64) as usize].clone()
        } else {
            (lon(rng), lat(rng))
        };
        args.extend([x, y, format!("m{i}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = text(c.cmd_args(&args));
    assert_eq!(r, format!(":{n}\r\n"));
}

/// Places several members share.
fn anchors(rng: &mut Rng) -> Vec<(String, String)> {
    let mut a: Vec<(String, String)> = (0..8).map(|_| (lon(rng), lat(rng))).collect();
    a.push(("180".into(), "85.05112878".into()));
    a.push(("-180".into(), "-85.05112878".into()));
    a.push(("13.361389".into(), "38.115556".into()));
    a
}

/// Random commands replayed on both servers, compared byte for byte, destinations too.
fn replay_against_redis(resp3: bool, members: u64, steps: usize, seed: u64) {
    let ours = Server::start(&[]);
    let Some(redis) = start_redis() else {
        return;
    };
    let mut a = Client::connect(ours.port);
    let mut b = Client::connect(redis.port);
    let mut rng = Rng(seed);
    let anchors = anchors(&mut rng);
    for c in [&mut a, &mut b] {
        c.cmd("FLUSHALL");
        c.cmd("SET str x");
        if resp3 {
            c.cmd("HELLO 3");
        }
        let mut fill_rng = Rng(seed ^ 0x5eed);
        fill(c, &mut fill_rng, "g", members, &anchors);
    }
    let (mut stores, mut errors, mut empty) = (0, 0, 0);
    for step in 0..steps {
        let (cmd, dst) = random_command(&mut rng, "g", members, &anchors);
        let (ra, rb) = (a.cmd(&cmd), b.cmd(&cmd));
        assert_eq!(text(&ra), text(&rb), "step {step}: {cmd}");
        match ra.first() {
            Some(b'-') => errors += 1,
            _ if ra == b"*0\r\n" || ra == b":0\r\n" => empty += 1,
            _ => {}
        }
        if let Some(dst) = dst {
            let check = format!("ZRANGE {dst} 0 -1 WITHSCORES");
            assert_eq!(
                text(a.cmd(&check)),
                text(b.cmd(&check)),
                "step {step}: {cmd}, then {check}"
            );
            let enc = format!("OBJECT ENCODING {dst}");
            assert_eq!(text(a.cmd(&enc)), text(b.cmd(&enc)), "step {step}: {enc}");
            stores += 1;
            if dst == "g" {
                // The source was overwritten with a search's result: put its members back.
                for c in [&mut a, &mut b] {
                    c.cmd("DEL g");
                    fill(c, &mut Rng(seed ^ 0x5eed), "g", members, &anchors);
                }
            }
        }
    }
    let all = "ZRANGE g 0 -1 WITHSCORES";
    assert_eq!(text(a.cmd(all)), text(b.cmd(all)));
    eprintln!(
        "{steps} commands compared ({errors} errors, {empty} empty results), {stores} destinations"
    );
}

#[test]
fn random_commands_on_a_small_set_match_redis() {
    replay_against_redis(false, 60, 6000, 0x6E0);
}

#[test]
fn random_commands_on_a_big_set_match_redis() {
    replay_against_redis(false, 3000, 5000, 0x6E0B16);
}

#[test]
fn random_commands_in_resp3_match_redis() {
    replay_against_redis(true, 800, 5000, 0x6E03);
}

/// Runs `lines` (arguments split on spaces) on both servers; the replies must be equal.
fn same_replies(setup: &[&str], lines: &[&str]) {
    common::same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        for s in setup {
            c.cmd(s);
        }
        lines
            .iter()
            .map(|l| {
                let reply = text(c.cmd(l));
                // HELLO's reply names the server: only its effect (RESP3) is compared.
                if l.starts_with("HELLO") {
                    return l.to_string();
                }
                format!("{l} -> {reply}")
            })
            .collect()
    });
}

const SICILY: &[&str] = &[
    "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "GEOADD g 13.5 38 a 13.5 38 b 13.5 38 c 13.6 38.1 d 12.9 37.9 e",
    "SET str x",
];

#[test]
fn bad_requests_get_redis_errors_in_redis_order() {
    same_replies(
        SICILY,
        &[
            // GEOADD
            "GEOADD k 1 1",
            "GEOADD k xx nx 1 1 m",
            "GEOADD k nx xx ch",
            "GEOADD k ch ch ch",
            "GEOADD k 1 1 m 2",
            "GEOADD k gt 1 1 m",
            "GEOADD k incr 1 1 m",
            "GEOADD k abc 1 m",
            "GEOADD k 1 abc m",
            "GEOADD k 181 1 m",
            "GEOADD k 1 86 m",
            "GEOADD k 1 -85.06 m",
            "GEOADD k inf 0 m",
            "GEOADD k -inf -inf m",
            "GEOADD k 1e400 0 m",
            "GEOADD k 1e-400 0 m",
            "GEOADD k 1e300 0 m",
            "GEOADD k 0x1p3 0x10 hex",
            "GEOADD k 1 1 ok 1 100 bad",
            "GEOADD str 1 1 m",
            "GEOADD str 1 100 m",
            "GEOADD k XX 1 1 m",
            "EXISTS k",
            "GEOADD k NX CH 1 1 m 2 2 n",
            "GEOADD k CH 1 1 m 3 3 n 4 4 o",
            "GEOADD k NX CH 5 5 m 5 5 p",
            "GEOADD k XX CH 6 6 m 6 6 q",
            "ZRANGE k 0 -1 WITHSCORES",
            // GEODIST
            "GEODIST g Palermo Catania",
            "GEODIST g Palermo Catania km",
            "GEODIST g Palermo Catania MI",
            "GEODIST g Palermo Catania ft",
            "GEODIST g Palermo Catania parsec",
            "GEODIST g Palermo Catania km extra",
            "GEODIST g Palermo nosuch",
            "GEODIST g Palermo Palermo",
            "GEODIST nokey a b",
            "GEODIST str a b",
            "GEODIST str a b badunit",
            "GEODIST g a",
            // GEOHASH / GEOPOS
            "GEOHASH g Palermo Catania nosuch",
            "GEOHASH nokey a b",
            "GEOHASH str a",
            "GEOHASH g",
            "GEOPOS g Palermo nosuch Catania",
            "GEOPOS nokey a",
            "GEOPOS str a",
            "GEOPOS g",
            // GEORADIUS
            "GEORADIUS g 15 37 200",
            "GEORADIUS g abc 37 200 km",
            "GEORADIUS g 15 abc 200 km",
            "GEORADIUS g 15 37 abc km",
            "GEORADIUS g 15 37 -1 km",
            "GEORADIUS g 15 37 200 parsec",
            "GEORADIUS g 200 37 abc parsec",
            "GEORADIUS str 200 37 200 km",
            "GEORADIUS nokey 200 37 200 km",
            "GEORADIUS nokey 15 37 200 km",
            "GEORADIUS g 15 37 200 km COUNT",
            "GEORADIUS g 15 37 200 km COUNT 0",
            "GEORADIUS g 15 37 200 km COUNT -1",
            "GEORADIUS g 15 37 200 km COUNT abc",
            "GEORADIUS g 15 37 200 km COUNT 9223372036854775807",
            "GEORADIUS g 15 37 200 km COUNT 9223372036854775808",
            "GEORADIUS g 15 37 200 km COUNT 0 ANY",
            "GEORADIUS g 15 37 200 km ANY",
            "GEORADIUS g 15 37 200 km ANY ASC",
            "GEORADIUS g 15 37 200 km STORE",
            "GEORADIUS g 15 37 200 km STORE d WITHDIST",
            "GEORADIUS g 15 37 200 km WITHCOORD STOREDIST d",
            "GEORADIUS g 15 37 200 km WITHHASH STORE d COUNT 0",
            "GEORADIUS g 15 37 200 km STORE d COUNT 0",
            "GEORADIUS g 15 37 200 km FROMLONLAT 1 1",
            "GEORADIUS g 15 37 200 km BYRADIUS 1 km",
            "GEORADIUS g 15 37 200 km STOREDIST",
            "GEORADIUS g 15 37 200 km bogus",
            "GEORADIUS_RO g 15 37 200 km STORE d",
            "GEORADIUS_RO g 15 37 200 km STOREDIST d",
            "GEORADIUS_RO g 15 37 200 km WITHDIST WITHHASH WITHCOORD",
            "GEORADIUS_RO g 15 37 200 km WITHDIST WITHDIST DESC ASC",
            // GEORADIUSBYMEMBER
            "GEORADIUSBYMEMBER g nosuch 10 km",
            "GEORADIUSBYMEMBER g nosuch abc km",
            "GEORADIUSBYMEMBER g Palermo abc km",
            "GEORADIUSBYMEMBER g Palermo 10 parsec",
            "GEORADIUSBYMEMBER nokey m 10 km",
            "GEORADIUSBYMEMBER nokey m abc parsec",
            "GEORADIUSBYMEMBER nokey m abc parsec bogus",
            "GEORADIUSBYMEMBER nokey m 10 km COUNT 0",
            "GEORADIUSBYMEMBER nokey m 10 km ANY",
            "GEORADIUSBYMEMBER nokey m 10 km WITHDIST STORE d",
            "SET d x",
            "GEORADIUSBYMEMBER nokey m 10 km STORE d",
            "EXISTS d",
            "GEORADIUSBYMEMBER str m 10 km",
            "GEORADIUSBYMEMBER_RO g Palermo 10 km STORE d",
            "GEORADIUSBYMEMBER g Palermo 200 km WITHDIST",
            // GEOSEARCH
            "GEOSEARCH g FROMLONLAT 15 37",
            "GEOSEARCH g FROMMEMBER Palermo FROMLONLAT 15 37 BYRADIUS 200 km",
            "GEOSEARCH g FROMLONLAT 15 37 FROMMEMBER Palermo BYRADIUS 200 km",
            "GEOSEARCH g FROMLONLAT 15 37 FROMLONLAT 13 38 BYRADIUS 200 km",
            "GEOSEARCH g FROMMEMBER Catania FROMMEMBER Palermo BYRADIUS 200 km",
            "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km BYBOX 1 1 km",
            "GEOSEARCH g FROMLONLAT 15 37 BYBOX 1 1 km BYRADIUS 200 km",
            "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 1 km BYRADIUS 200 km",
            "GEOSEARCH g BYRADIUS 200 km WITHDIST",
            "geosearch g BYRADIUS 200 km WITHDIST",
            "GeoSearch g BYRADIUS 200 km WITHDIST",
            "GEOSEARCH g FROMLONLAT 15 37 WITHDIST ASC",
            "GEOSEARCH g FROMLONLAT 15 37 BYBOX 1 km",
            "GEOSEARCH g FROMLONLAT 15 37 BYBOX -1 1 km",
            "GEOSEARCH g FROMLONLAT 15 37 BYBOX 1 -1 km",
            "GEOSEARCH g FROMLONLAT 15 37 BYBOX a 1 km",
            "GEOSEARCH g FROMLONLAT 15 37 BYBOX 1 a km",
            "GEOSEARCH g FROMLONLAT 15 37 BYBOX a a parsec",
            "GEOSEARCH g FROMLONLAT 15 37 BYBOX 1 1 parsec",
            "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km STORE d",
            "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
            "GEOSEARCH g FROMLONLAT 200 37 BYRADIUS 200 km",
            "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS -200 km",
            "GEOSEARCH g FROMMEMBER nosuch BYRADIUS 200 km",
            "GEOSEARCH g FROMMEMBER nosuch BYRADIUS -200 km",
            "GEOSEARCH nokey FROMMEMBER nosuch BYRADIUS 200 km",
            "GEOSEARCH nokey FROMMEMBER nosuch BYRADIUS -200 km",
            "GEOSEARCH nokey BYRADIUS 200 km ASC",
            "GEOSEARCH nokey FROMMEMBER m BYRADIUS 200 km ANY",
            "GEOSEARCH str FROMMEMBER m BYRADIUS 200 km",
            "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km COUNT 2 ANY",
            "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km ANY COUNT 2 DESC",
            "GEOSEARCH g FROMLONLAT 15 37 BYBOX 400 400 km WITHHASH WITHCOORD WITHDIST",
            // GEOSEARCHSTORE
            "GEOSEARCHSTORE d g FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST",
            "GEOSEARCHSTORE d g FROMLONLAT 15 37 BYRADIUS 200 km STORE x",
            "GEOSEARCHSTORE d g FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
            "ZRANGE d 0 -1 WITHSCORES",
            "GEOSEARCHSTORE d g FROMLONLAT 15 37 BYRADIUS 200 km COUNT 3",
            "ZRANGE d 0 -1 WITHSCORES",
            "GEOSEARCHSTORE d g FROMLONLAT 15 37 BYRADIUS 200 km COUNT 3 DESC STOREDIST",
            "ZRANGE d 0 -1 WITHSCORES",
            "GEOSEARCHSTORE d g FROMLONLAT 100 37 BYRADIUS 1 km",
            "EXISTS d",
            "SET d x",
            "GEOSEARCHSTORE d nokey FROMLONLAT 100 37 BYRADIUS 1 km",
            "EXISTS d",
            "GEOSEARCHSTORE d str FROMLONLAT 100 37 BYRADIUS 1 km",
            "GEOSEARCHSTORE d nokey BYRADIUS 1 km",
            "GEOSEARCHSTORE g g FROMMEMBER Palermo BYRADIUS 100 km STOREDIST",
            "ZRANGE g 0 -1 WITHSCORES",
            "OBJECT ENCODING g",
        ],
    );
}

#[test]
fn options_read_as_c_strings_and_any_case() {
    // Redis compares options with strcasecmp, which stops at a NUL byte.
    common::same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd(SICILY[0]);
        let cases: &[&[&[u8]]] = &[
            &[
                b"GEOSEARCH",
                b"g",
                b"FROMLONLAT",
                b"15",
                b"37",
                b"BYRADIUS",
                b"200",
                b"km\0x",
                b"WITHDIST\0junk",
            ],
            &[
                b"GEOSEARCH",
                b"g",
                b"FROMLONLAT",
                b"15",
                b"37\0",
                b"BYRADIUS",
                b"200",
                b"km",
            ],
            &[b"GEOADD", b"g", b"nx\0", b"1", b"1", b"nul\0member"],
            &[b"GEOPOS", b"g", b"nul\0member"],
            &[
                b"GEORADIUS",
                b"g",
                b"15",
                b"37",
                b"2e2",
                b"Km",
                b"wItHdIsT",
                b"cOuNt",
                b"1",
            ],
        ];
        cases.iter().map(|args| text(c.call(args))).collect()
    });
}

#[test]
fn scores_that_are_not_geohashes_decode_as_redis_does() {
    same_replies(
        &[
            "ZADD w -1 neg 1.5 frac 1e30 huge inf pinf -inf ninf 0 zero",
            "ZADD w 4503599627370495 top 4503599627370496 over 9.3e18 big2 -1e30 nhuge",
            "ZADD w 3479099956230698 palermo 1e-300 tiny",
        ],
        &[
            "GEOPOS w neg frac huge pinf ninf zero top over big2 nhuge palermo tiny",
            "GEOHASH w neg frac huge pinf ninf zero top over big2 nhuge palermo tiny",
            "GEODIST w neg pinf",
            "GEODIST w zero top km",
            "GEOSEARCH w FROMMEMBER neg BYRADIUS 30000 km WITHHASH WITHCOORD WITHDIST",
            "GEOSEARCH w FROMMEMBER pinf BYBOX 40000 40000 km WITHHASH ASC",
            "GEORADIUSBYMEMBER w ninf 20000 km WITHHASH DESC",
            "GEOSEARCHSTORE d w FROMMEMBER zero BYRADIUS 20000 km STOREDIST",
            "ZRANGE d 0 -1 WITHSCORES",
            "GEOSEARCHSTORE d w FROMMEMBER zero BYRADIUS 20000 km",
            "ZRANGE d 0 -1 WITHSCORES",
        ],
    );
}

#[test]
fn redis_documentation_examples() {
    same_replies(
        &[],
        &[
            "GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
            "GEODIST Sicily Palermo Catania",
            "GEORADIUS Sicily 15 37 100 km",
            "GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD",
            "GEOADD Sicily 13.583333 37.316667 Agrigento",
            "GEORADIUSBYMEMBER Sicily Agrigento 100 km",
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC",
            "GEOADD Sicily 12.758489 38.788135 edge1 17.241510 38.788135 edge2",
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST",
            "GEOSEARCHSTORE key1 Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC COUNT 3",
            "GEOSEARCH key1 FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST WITHHASH",
            "GEOSEARCHSTORE key2 Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC COUNT 3 STOREDIST",
            "ZRANGE key2 0 -1 WITHSCORES",
            "GEOHASH Sicily Palermo Catania",
            "GEOPOS Sicily Palermo Catania NonExisting",
            "HELLO 3",
            "GEOPOS Sicily Palermo Catania NonExisting",
            "GEOHASH Sicily Palermo NonExisting",
            "GEODIST Sicily Palermo NonExisting",
            "GEODIST nokey Palermo Catania",
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST WITHCOORD WITHHASH",
            "GEOSEARCH Sicily FROMLONLAT 150 37 BYRADIUS 200 km WITHDIST WITHCOORD WITHHASH",
        ],
    );
}

#[test]
fn ties_in_distance_keep_redis_order() {
    // Many members at a few places: equal distances, sorted whole (a stable merge sort)
    // and partly (COUNT: Redis's partial quicksort, whose order of ties is its own).
    let mut setup = vec!["SET str x".to_string()];
    let mut args = String::from("GEOADD t");
    for i in 0..300 {
        let place = [(1.0, 1.0), (1.001, 1.0), (1.0, 1.002), (0.999, 0.999)][i % 4];
        args.push_str(&format!(" {} {} p{:03}", place.0, place.1, (i * 37) % 300));
    }
    setup.push(args);
    let setup: Vec<&str> = setup.iter().map(String::as_str).collect();
    let mut lines = Vec::new();
    for count in [1, 2, 5, 6, 7, 8, 20, 40, 41, 75, 76, 150, 299, 300, 301] {
        lines.push(format!(
            "GEOSEARCH t FROMLONLAT 1 1 BYRADIUS 500 km COUNT {count}"
        ));
        lines.push(format!(
            "GEOSEARCH t FROMLONLAT 1 1 BYRADIUS 500 km COUNT {count} DESC"
        ));
        lines.push(format!(
            "GEORADIUS t 1.0005 1 500 km COUNT {count} WITHDIST"
        ));
    }
    lines.push("GEOSEARCH t FROMLONLAT 1 1 BYRADIUS 500 km ASC".into());
    lines.push("GEOSEARCH t FROMLONLAT 1 1 BYRADIUS 500 km DESC".into());
    lines.push("GEOSEARCH t FROMLONLAT 1 1 BYRADIUS 500 km".into());
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    same_replies(&setup, &lines);
}

/// Sends `line` and a PING on a RESP3 connection subscribed to its own events; returns
/// everything that came back before the PONG, pushes and reply in their order.
fn with_events(c: &mut Client, line: &str) -> String {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    c.send(&args);
    c.send(&[b"PING"]);
    let mut got = String::new();
    loop {
        let r = text(c.read_reply());
        if r == "+PONG\r\n" {
            return got;
        }
        got.push_str(&r);
    }
}

#[test]
fn keyspace_events_as_redis_publishes_them() {
    common::same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("CONFIG SET notify-keyspace-events KEA");
        c.cmd("HELLO 3");
        c.cmd("PSUBSCRIBE __key*__:*");
        let lines = [
            "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
            "GEOADD g NX 13.361389 38.115556 Palermo",
            "GEOADD g XX 1 1 nosuch",
            "GEOADD g XX CH 13.4 38.1 Palermo",
            "GEOADD fresh XX 1 1 m",
            "GEOSEARCHSTORE d g FROMLONLAT 15 37 BYRADIUS 200 km",
            "GEOSEARCHSTORE d g FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
            "GEORADIUS g 15 37 200 km STORE d2",
            "GEORADIUSBYMEMBER g Palermo 200 km STOREDIST d2",
            "GEORADIUS g 15 37 200 km",
            "GEOSEARCHSTORE d g FROMLONLAT 100 37 BYRADIUS 1 km",
            "GEOSEARCHSTORE d g FROMLONLAT 100 37 BYRADIUS 1 km",
            "GEORADIUS nokey 15 37 200 km STORE d2",
            "GEORADIUS nokey 15 37 200 km STORE d2",
            "GEOSEARCHSTORE g g FROMMEMBER Palermo BYRADIUS 10 km",
        ];
        lines
            .iter()
            .map(|l| format!("{l} -> {}", with_events(&mut c, l)))
            .collect()
    });
}

/// A redis-server with the append-only file on, in a directory of its own.
struct RedisAof {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for RedisAof {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn redis_with_aof() -> Option<RedisAof> {
    // start_redis checks the version and skips (or fails under CI) as the other tests do.
    drop(start_redis()?);
    for _ in 0..5 {
        let port = free_port();
        let dir = common::fresh_dir("geo-redis-aof");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "yes"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let redis = RedisAof { child, port, dir };
        let up = wait_for(Duration::from_secs(10), || {
            let s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            drop(s);
            let mut c = Client::connect(port);
            let info = c.cmd_str("INFO server");
            info.contains(&format!("process_id:{}\r\n", redis.child.id()))
                .then_some(())
        });
        if up.is_some() {
            return Some(redis);
        }
    }
    panic!("could not start redis-server with an AOF");
}

/// The concatenated incr files of the AOF directory under `dir`.
fn incr_files(dir: &Path) -> String {
    let aof = dir.join("appendonlydir");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&aof)
        .expect("the AOF directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| text(std::fs::read(p).expect("read an incr file")))
        .collect()
}

#[test]
fn the_append_only_file_gets_what_redis_writes() {
    let lines = [
        "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
        "GEOADD g NX 13.361389 38.115556 Palermo",
        "GEOADD g ch XX 13.4 38.1 Palermo 1 1 nosuch",
        "GEOADD g nx CH 13.4 38.1 Palermo 1 1 new",
        "GEORADIUS g 15 37 200 km",
        "GEORADIUS_RO g 15 37 200 km",
        "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km",
        "GEORADIUS g 15 37 200 km STORE d",
        "GEORADIUSBYMEMBER g Palermo 200 km STOREDIST d2",
        "GEOSEARCHSTORE d3 g FROMLONLAT 15 37 BYRADIUS 200 km COUNT 1",
        "GEOSEARCHSTORE d3 g FROMLONLAT 100 37 BYRADIUS 1 km",
        "GEOSEARCHSTORE d3 g FROMLONLAT 100 37 BYRADIUS 1 km",
        "MULTI",
        "GEOADD g 2 2 inmulti",
        "GEORADIUS g 15 37 200 km STORE d",
        "EXEC",
    ];
    let ours = Server::start(&["--appendonly", "yes", "--save", ""]);
    let mut c = ours.client();
    for l in lines {
        c.cmd(l);
    }
    let got = incr_files(&ours.dir);
    assert!(got.contains("$4\r\nzadd\r\n"), "{got}");
    assert!(!got.to_ascii_lowercase().contains("geoadd"), "{got}");
    let Some(redis) = redis_with_aof() else {
        return;
    };
    let mut r = Client::connect(redis.port);
    for l in lines {
        r.cmd(l);
    }
    assert_eq!(got, incr_files(&redis.dir));
}

#[test]
fn commands_are_in_the_table_as_in_redis() {
    common::same_on_both(|port| {
        let mut c = Client::connect(port);
        [
            "geoadd",
            "geodist",
            "geohash",
            "geopos",
            "georadius_ro",
            "georadiusbymember_ro",
            "geosearch",
            "geosearchstore",
        ]
        .iter()
        .map(|name| {
            // Name, arity, flags and key positions (Redis adds `movablekeys` to the
            // GEORADIUS forms that take STORE, which are left out).
            let r = common::parse(&c.cmd(&format!("COMMAND INFO {name}")));
            let common::Resp::Agg(_, Some(mut all)) = r else {
                panic!("not an array");
            };
            let common::Resp::Agg(_, Some(info)) = all.remove(0) else {
                panic!("no info for {name}");
            };
            format!("{:?}", &info[..6])
        })
        .collect()
    });
}

#[test]
fn keyspace_hits_and_misses_count_as_in_redis() {
    common::same_on_both(|port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        c.cmd("CONFIG RESETSTAT");
        for l in SICILY {
            c.cmd(l);
        }
        let mut seen = Vec::new();
        for l in [
            "GEOADD g 1 1 x",
            "GEOADD nokey XX 1 1 x",
            "GEODIST g Palermo Catania",
            "GEODIST nokey a b",
            "GEODIST nokey a b parsec",
            "GEOPOS g Palermo",
            "GEOPOS nokey a",
            "GEOHASH nokey a",
            "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km",
            "GEOSEARCH nokey FROMLONLAT 15 37 BYRADIUS 200 km",
            "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS -200 km",
            "GEOSEARCHSTORE d g FROMLONLAT 15 37 BYRADIUS 200 km",
            "GEOSEARCHSTORE d nokey FROMLONLAT 15 37 BYRADIUS 200 km",
            "GEORADIUS g 15 37 200 km STORE d",
            "GEORADIUSBYMEMBER_RO nokey m 1 km",
        ] {
            c.cmd(l);
            let (hits, misses) = common::hits_misses(&mut c);
            seen.push(format!("{l}: hits {hits} misses {misses}"));
        }
        seen
    });
}
