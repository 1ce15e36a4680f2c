//! LZF decompression (Marc Lehmann's format, which RDB uses for strings longer than 20
//! bytes when `rdbcompression` is on).
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

#[cfg(test)]
mod tests {
    use super::decompress;

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
