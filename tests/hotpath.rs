//! The hot path allocates nothing: GET on a hit, SET over an existing key and INCR run
//! thousands of times while the server's allocation counter (INFO keyval_allocations,
//! counted by its global allocator) barely moves.

mod common;

use common::{Client, Server, encode, info_field};

fn allocations(c: &mut Client) -> u64 {
    info_field(c, "memory", "keyval_allocations")
}

/// Sends `cmd` `n` times in pipelined batches of 16 and checks every reply.
fn repeat(c: &mut Client, cmd: &[&[u8]], n: usize, want: &[u8]) {
    let batch: Vec<u8> = (0..16).flat_map(|_| encode(cmd)).collect();
    for _ in 0..n / 16 {
        c.send_raw(&batch);
        for _ in 0..16 {
            assert_eq!(c.read_reply(), want);
        }
    }
}

#[test]
fn get_hit_set_overwrite_and_incr_do_not_allocate() {
    let server = Server::start(&[]);
    let mut c = server.client();
    assert_eq!(c.cmd("SET key:000000000001 xxxxxxxxxxxxxxxx"), b"+OK\r\n");
    assert_eq!(
        c.cmd("SET big 0123456789012345678901234567890123456789"),
        b"+OK\r\n"
    );
    assert_eq!(c.cmd("SET n 0"), b"+OK\r\n");
    // Warm up buffers (read buffer, reply buffer) so growth is not counted.
    repeat(
        &mut c,
        &[b"GET", b"key:000000000001"],
        1600,
        b"$16\r\nxxxxxxxxxxxxxxxx\r\n",
    );
    let cases: [(&[&[u8]], &[u8]); 4] = [
        (
            &[b"GET", b"key:000000000001"],
            b"$16\r\nxxxxxxxxxxxxxxxx\r\n",
        ),
        (
            &[b"SET", b"key:000000000001", b"yyyyyyyyyyyyyyyy"],
            b"+OK\r\n",
        ),
        (
            &[b"SET", b"big", b"9876543210987654321098765432109876543210"],
            b"+OK\r\n",
        ),
        (&[b"EXISTS", b"key:000000000001"], b":1\r\n"),
    ];
    for (cmd, want) in cases {
        let before = allocations(&mut c);
        repeat(&mut c, cmd, 16_000, want);
        let after = allocations(&mut c);
        // INFO itself allocates a little; 16,000 commands allocating would show thousands.
        assert!(
            after - before < 200,
            "{} allocated {} times for 16000 calls",
            String::from_utf8_lossy(cmd[0]),
            after - before
        );
    }
    let before = allocations(&mut c);
    let batch: Vec<u8> = (0..16).flat_map(|_| encode(&[b"INCR", b"n"])).collect();
    for _ in 0..1000 {
        c.send_raw(&batch);
        for _ in 0..16 {
            assert!(c.read_reply().starts_with(b":"));
        }
    }
    let after = allocations(&mut c);
    assert!(
        after - before < 200,
        "INCR allocated {} times",
        after - before
    );
    assert_eq!(c.cmd("GET n"), b"$5\r\n16000\r\n");
}
