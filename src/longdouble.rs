//! INCRBYFLOAT arithmetic exactly as Redis does it: C `long double` parsing, addition and
//! `%.17Lf` formatting (see `csrc/longdouble.c`). Using `f64` instead would print
//! `0.30000000000000004` where Redis prints `0.3`.

use std::os::raw::{c_char, c_int};

/// Longest text the C side may produce (Redis's MAX_LONG_DOUBLE_CHARS).
const MAX_CHARS: usize = 5 * 1024;

unsafe extern "C" {
    fn keyval_incrbyfloat(
        cur: *const c_char,
        curlen: usize,
        incr: *const c_char,
        incrlen: usize,
        out: *mut c_char,
        outlen: *mut usize,
    ) -> c_int;
}

/// Why an INCRBYFLOAT failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatError {
    /// The current value or the increment is not a valid float.
    NotFloat,
    /// The result would be NaN or infinite.
    NanOrInfinity,
}

/// Adds `incr` to `current` (a missing key counts as 0) and returns the new value's text.
pub fn incr_by_float(current: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, FloatError> {
    let mut out = vec![0u8; MAX_CHARS];
    let mut len = 0usize;
    let (cur_ptr, cur_len) = match current {
        Some(c) => (c.as_ptr().cast::<c_char>(), c.len()),
        None => (std::ptr::null(), 0),
    };
    // SAFETY: every pointer is valid for the length passed with it for the whole call:
    // `cur_ptr`/`cur_len` and `incr` come from live slices (or NULL, which the C side
    // checks), `out` has MAX_CHARS bytes, the capacity the C side writes at most, and
    // `len` is a valid `usize` location. The C function keeps no pointer after returning.
    let rc = unsafe {
        keyval_incrbyfloat(
            cur_ptr,
            cur_len,
            incr.as_ptr().cast::<c_char>(),
            incr.len(),
            out.as_mut_ptr().cast::<c_char>(),
            &mut len,
        )
    };
    match rc {
        0 => {
            out.truncate(len.min(MAX_CHARS));
            Ok(out)
        }
        2 | 3 => Err(FloatError::NanOrInfinity),
        _ => Err(FloatError::NotFloat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(cur: Option<&str>, by: &str) -> Result<String, FloatError> {
        incr_by_float(cur.map(str::as_bytes), by.as_bytes()).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn matches_redis_examples() {
        // From Redis's INCRBYFLOAT documentation.
        assert_eq!(incr(Some("10.50"), "0.1").unwrap(), "10.6");
        assert_eq!(incr(Some("10.6"), "-5").unwrap(), "5.6");
        assert_eq!(incr(Some("5.0e3"), "2.0e2").unwrap(), "5200");
        // Where f64 would show binary rounding.
        assert_eq!(incr(Some("0.1"), "0.2").unwrap(), "0.3");
        assert_eq!(incr(None, "3").unwrap(), "3");
        assert_eq!(incr(Some("1"), "-1").unwrap(), "0");
        assert_eq!(incr(Some("-0.5"), "0.5").unwrap(), "0");
    }

    #[test]
    fn errors() {
        assert_eq!(incr(Some("abc"), "1"), Err(FloatError::NotFloat));
        assert_eq!(incr(Some("1"), " 1"), Err(FloatError::NotFloat));
        assert_eq!(incr(Some("1"), ""), Err(FloatError::NotFloat));
        assert_eq!(incr(Some("1"), "nan"), Err(FloatError::NotFloat));
        assert_eq!(incr(Some("1"), "inf"), Err(FloatError::NanOrInfinity));
        assert_eq!(
            incr(Some("1e4932"), "1e4932"),
            Err(FloatError::NanOrInfinity)
        );
        // An embedded NUL: strtold stops there, which must not pass for the whole string.
        assert_eq!(incr(Some("1\0 2"), "1"), Err(FloatError::NotFloat));
        assert_eq!(incr(Some("1"), "1\0 2"), Err(FloatError::NotFloat));
        assert_eq!(incr(Some("1\0"), "1"), Err(FloatError::NotFloat));
        let long = "1".repeat(MAX_CHARS);
        assert_eq!(incr(Some("1"), &long), Err(FloatError::NotFloat));
    }
}
