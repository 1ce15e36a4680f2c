//! String commands end to end where the golden files cannot say it all: each check runs
//! against our server and redis-server, and compares raw replies.

mod common;

use common::{Client, on_both};

/// INCRBYFLOAT and HINCRBYFLOAT read the whole value as a long double: a value or an
/// increment with an embedded NUL (`1\0 2`) is not a float, even though C's strtold stops
/// at the NUL and sees "1". The stored value is left alone.
#[test]
fn float_increments_reject_embedded_nul() {
    on_both(&[], |port| {
        let mut c = Client::connect(port);
        c.cmd("FLUSHALL");
        let nul: &[u8] = b"1\0 2";
        let not_float: &[u8] = b"-ERR value is not a valid float\r\n";
        let cases: &[(&[&[u8]], &[u8])] = &[
            (&[b"SET", b"k", nul], b"+OK\r\n"),
            (&[b"INCRBYFLOAT", b"k", b"1"], not_float),
            (&[b"GET", b"k"], b"$4\r\n1\0 2\r\n"),
            (&[b"SET", b"t", b"1\0"], b"+OK\r\n"),
            (&[b"INCRBYFLOAT", b"t", b"1"], not_float),
            (&[b"SET", b"f", b"1.5"], b"+OK\r\n"),
            (&[b"INCRBYFLOAT", b"f", nul], not_float),
            (&[b"INCRBYFLOAT", b"f", b"1.5\0"], not_float),
            (&[b"INCRBYFLOAT", b"f", b"\x001"], not_float),
            (&[b"GET", b"f"], b"$3\r\n1.5\r\n"),
            (&[b"INCRBYFLOAT", b"new", nul], not_float),
            (&[b"EXISTS", b"new"], b":0\r\n"),
            (&[b"INCRBYFLOAT", b"f", b"1"], b"$3\r\n2.5\r\n"),
            (&[b"HSET", b"h", b"f", nul, b"g", b"2"], b":2\r\n"),
            (
                &[b"HINCRBYFLOAT", b"h", b"f", b"1"],
                b"-ERR hash value is not a float\r\n",
            ),
            (&[b"HGET", b"h", b"f"], b"$4\r\n1\0 2\r\n"),
            (&[b"HINCRBYFLOAT", b"h", b"g", nul], not_float),
            (&[b"HINCRBYFLOAT", b"h", b"g", b"2\0"], not_float),
            (&[b"HINCRBYFLOAT", b"h", b"new", nul], not_float),
            (&[b"HEXISTS", b"h", b"new"], b":0\r\n"),
            (&[b"HINCRBYFLOAT", b"nohash", b"f", nul], not_float),
            (&[b"EXISTS", b"nohash"], b":0\r\n"),
            (&[b"HINCRBYFLOAT", b"h", b"g", b"0.5"], b"$3\r\n2.5\r\n"),
            // The integer increments parse the whole string too.
            (
                &[b"INCRBY", b"t", b"1"],
                b"-ERR value is not an integer or out of range\r\n",
            ),
            (
                &[b"INCRBY", b"n", b"1\0"],
                b"-ERR value is not an integer or out of range\r\n",
            ),
        ];
        for (args, want) in cases {
            let got = c.call(args);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want),
                "port {port}: {:?}",
                args.iter()
                    .map(|a| String::from_utf8_lossy(a))
                    .collect::<Vec<_>>()
            );
        }
    });
}
