//! LZF compression and decompression (Marc Lehmann's format, which RDB uses for strings
//! longer than 20 bytes when `rdbcompression` is on).
//!
//! The stream is a sequence of runs: a control byte below 32 starts a literal of
//! `ctrl + 1` bytes; otherwise its top 3 bits are a length (7 meaning "add the next
//! byte") and a back reference of `len + 2` bytes starts `((ctrl & 31) << 8 | next) + 1`
//! bytes before the output's end.

/// Decompresses `input` into exactly `expected_len` bytes; None when the data is corrupt
/// (a reference before the start, a run past either end, or a length mismatch).
pub fn decompress(input: &[u8], expected_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(expected_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            let literal = input.get(i..i + n)?;
            if out.len() + n > expected_len {
                return None;
            }
            out.extend_from_slice(literal);
            i += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(i)?);
                i += 1;
            }
            len += 2;
            let back = ((ctrl & 31) << 8 | usize::from(*input.get(i)?)) + 1;
            i += 1;
            if back > out.len() || out.len() + len > expected_len {
                return None;
            }
            // Byte by byte: a reference may overlap the bytes it produces.
            let start = out.len() - back;
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    (out.len() == expected_len).then_some(out)
}

/// Size of the compressor's table of recent 3-byte sequences (a power of two).
const HASH_SLOTS: usize = 1 << 14;
/// Farthest a back reference reaches (13 bits of offset, plus one).
const MAX_BACK: usize = 1 << 13;
/// Longest back reference: 2 + 7 + 255 bytes.
const MAX_MATCH: usize = 264;
/// Longest literal run a control byte announces.
const MAX_LITERAL: usize = 32;

/// Compresses `input`, giving up (None) as soon as the output would pass `max_out` bytes:
/// RDB stores a string compressed only when that saves something.
///
/// Greedy matching over a table of the last position of each 3-byte sequence's hash; any
/// valid LZF stream decodes the same, so this need not produce liblzf's exact bytes.
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(max_out.min(input.len()));
    // A table in proportion to the input: clearing 64 KiB for every 100-byte value would
    // cost more than compressing it.
    let slots = input.len().next_power_of_two().clamp(256, HASH_SLOTS);
    let shift = 32 - slots.trailing_zeros();
    let mut table = vec![u32::MAX; slots];
    let mut literal_start = 0;
    let mut i = 0;
    let flush_literals = |out: &mut Vec<u8>, lit: &[u8]| {
        for chunk in lit.chunks(MAX_LITERAL) {
            out.push((chunk.len() - 1) as u8);
            out.extend_from_slice(chunk);
        }
    };
    while i + 2 < input.len() {
        let seq =
            u32::from(input[i]) << 16 | u32::from(input[i + 1]) << 8 | u32::from(input[i + 2]);
        let slot = (seq.wrapping_mul(2_654_435_761) >> shift) as usize;
        let candidate = table[slot];
        table[slot] = i as u32;
        if candidate != u32::MAX {
            let from = candidate as usize;
            let back = i - from;
            if back <= MAX_BACK && input[from..from + 3] == input[i..i + 3] {
                let limit = MAX_MATCH.min(input.len() - i);
                let mut len = 3;
                while len < limit && input[from + len] == input[i + len] {
                    len += 1;
                }
                flush_literals(&mut out, &input[literal_start..i]);
                let offset = back - 1;
                let code = len - 2;
                if code < 7 {
                    out.push(((code << 5) | (offset >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (offset >> 8)) as u8);
                    out.push((code - 7) as u8);
                }
                out.push(offset as u8);
                if out.len() > max_out {
                    return None;
                }
                i += len;
                literal_start = i;
                continue;
            }
        }
        i += 1;
    }
    flush_literals(&mut out, &input[literal_start..]);
    (out.len() <= max_out).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::{compress, decompress};

    #[test]
    fn compress_round_trips() {
        let mut rng = 12345u64;
        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            b"a".to_vec(),
            vec![b'x'; 10_000],
            b"hello hello hello hello hello world".repeat(50),
        ];
        // Random bytes (incompressible) and random text from a small alphabet.
        let mut random = Vec::new();
        let mut text = Vec::new();
        for _ in 0..20_000 {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            random.push((rng >> 56) as u8);
            text.push(b"abcd "[(rng >> 60) as usize % 5]);
        }
        cases.push(random.clone());
        cases.push(text);
        for case in &cases {
            let packed = compress(case, usize::MAX).expect("no size limit");
            assert_eq!(decompress(&packed, case.len()).as_deref(), Some(&case[..]));
        }
        assert!(compress(&vec![b'x'; 10_000], 200).expect("fits").len() < 200);
        // Incompressible data does not fit a budget below its size.
        assert_eq!(compress(&random, random.len() - 4), None);
    }

    #[test]
    fn literals_and_overlapping_references() {
        // "abc" then a reference of 7 bytes, 3 back: "abcabcabca".
        let data = [2, b'a', b'b', b'c', (5 << 5), 2];
        assert_eq!(decompress(&data, 10).as_deref(), Some(&b"abcabcabca"[..]));
        // A long reference: length 7 + extra byte.
        let data = [0, b'x', (7 << 5), 1, 0];
        assert_eq!(decompress(&data, 11).unwrap(), vec![b'x'; 11]);
    }

    #[test]
    fn corrupt_input_is_refused() {
        // Reference before the start.
        assert_eq!(decompress(&[(1 << 5), 5], 3), None);
        // Literal past the input's end.
        assert_eq!(decompress(&[5, b'a'], 6), None);
        // Output longer or shorter than announced.
        assert_eq!(decompress(&[2, b'a', b'b', b'c'], 2), None);
        assert_eq!(decompress(&[2, b'a', b'b', b'c'], 4), None);
        assert_eq!(decompress(&[], 0), Some(vec![]));
    }
}
