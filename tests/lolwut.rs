//! LOLWUT end to end: the version line, Schotter (VERSION 5) and the skyline (VERSION 6).
//!
//! Where the drawing involves no randomness (Schotter with one or two rows of squares is
//! all straight squares; every error) the replies must be byte-equal to redis-server's, in
//! RESP2 and RESP3, apart from the version number each server reports. The random drawings
//! are checked for their shape: the canvas size, the characters used, the captions.

mod common;

use common::{Client, Server, same_on_both};

/// A reply with the server's version replaced by `V` and a bulk's or verbatim's length
/// header dropped (the version's length differs), so the two servers' replies compare.
fn without_version(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw).into_owned();
    let text = match text.find("Redis ver. ") {
        Some(at) => {
            let from = at + "Redis ver. ".len();
            let to = from + text[from..].find('\n').expect("version line ends");
            format!("{}V{}", &text[..from], &text[to..])
        }
        None => return text,
    };
    match text.find("\r\n") {
        Some(end) if text.starts_with('$') || text.starts_with('=') => {
            format!("{}{}", &text[..1], &text[end..])
        }
        _ => text,
    }
}

/// The deterministic requests, in RESP2 then RESP3.
fn deterministic_transcript(port: u16) -> Vec<String> {
    let mut c = Client::connect(port);
    let requests: &[&[&str]] = &[
        &["LOLWUT"],
        &["lolwut", "5", "6"],
        &["LOLWUT", "VERSION"],
        &["LOLWUT", "version", "4"],
        &["LOLWUT", "VERSION", "-1"],
        &["LOLWUT", "VERSION", "7", "10"],
        &["LOLWUT", "VERSION", "5", "40", "6", "2"],
        &["LOLWUT", "VERSION", "5", "66", "8", "2"],
        &["LOLWUT", "VERSION", "5", "33", "7", "1"],
        &["LOLWUT", "VERSION", "5", "1", "1", "1"],
        &["LOLWUT", "VERSION", "5", "3", "2", "2"],
        &["LOLWUT", "VERSION", "5", "2000", "1", "1"],
        &["LOLWUT", "VERSION", "5", "7", "900", "-5"],
        &["LOLWUT", "VERSION", "5", "0", "0", "2"],
        &["LOLWUT", "VERSION", "x"],
        &["LOLWUT", "VERSION", "5", "x"],
        &["LOLWUT", "VERSION", "5", "10", "3", "1.5"],
        &["LOLWUT", "VERSION", "6", "x"],
        &["LOLWUT", "VERSION", "6", "10", "99999999999999999999"],
    ];
    let mut out = Vec::new();
    for resp3 in [false, true] {
        if resp3 {
            c.cmd("HELLO 3");
        }
        for args in requests {
            out.push(format!(
                "{args:?} -> {}",
                without_version(&c.cmd_args(args))
            ));
        }
    }
    out
}

#[test]
fn deterministic_drawings_and_errors_match_redis() {
    same_on_both(deterministic_transcript);
}

/// The text of a bulk reply.
fn bulk_text(raw: &[u8]) -> String {
    let text = String::from_utf8(raw.to_vec()).expect("utf-8 art");
    let body = &text[text.find("\r\n").expect("header") + 2..];
    body.strip_suffix("\r\n").expect("bulk ends").to_string()
}

#[test]
fn random_drawings_have_redis_shape() {
    let server = Server::start(&[]);
    let mut c = server.client();

    // Schotter at its defaults: 66 columns of braille, 12 rows of squares 16 pixels high
    // plus padding = (16 * 12 + 4) / 4 = 49 text lines, then (the last pixel row not being
    // a multiple of four) an empty line as Redis leaves it, then the caption.
    let art = bulk_text(&c.cmd("LOLWUT VERSION 5"));
    let lines: Vec<&str> = art.lines().collect();
    assert_eq!(lines.len(), 51, "{art}");
    assert!(lines[..49].iter().all(|l| l.chars().count() == 66));
    assert!(
        lines[..49]
            .iter()
            .all(|l| l.chars().all(|ch| ('\u{2800}'..='\u{28ff}').contains(&ch)))
    );
    assert_eq!(lines[49], "");
    assert!(lines[50].starts_with("Georg Nees - schotter, plotter on paper, 1968. Redis ver. "));
    // The lower rows are turned at random: two drawings differ there, never above.
    let again = bulk_text(&c.cmd("LOLWUT VERSION 5"));
    let top = |s: &str| s.lines().take(7).collect::<Vec<_>>().join("\n");
    assert_eq!(top(&art), top(&again));
    assert_ne!(art, again);

    // The skyline: 30x8 cells, each one coloured space, then two caption lines.
    let sky = bulk_text(&c.cmd("LOLWUT VERSION 6 30 8"));
    let lines: Vec<&str> = sky.lines().collect();
    assert_eq!(lines.len(), 10, "{sky}");
    let colours = [
        "\x1b[0;30;40m \x1b[0m",
        "\x1b[0;90;100m \x1b[0m",
        "\x1b[0;37;47m \x1b[0m",
        "\x1b[0;97;107m \x1b[0m",
    ];
    for line in &lines[..8] {
        let mut rest = *line;
        let mut cells = 0;
        while !rest.is_empty() {
            let colour = colours
                .iter()
                .find(|c| rest.starts_with(*c))
                .expect("a known colour cell");
            rest = &rest[colour.len()..];
            cells += 1;
        }
        assert_eq!(cells, 30);
    }
    // The foreground buildings are black and stand on the bottom row.
    assert!(lines[7].contains(colours[0]));
    assert_eq!(
        lines[8],
        "Dedicated to the 8 bit game developers of past and present."
    );
    assert!(lines[9].starts_with("Original 8 bit image from Plaguemon by hikikomori. Redis ver. "));
}
