//! RDB's length and string encodings (Redis's rdb.c `rdbSaveLen`, `rdbSaveRawString`,
//! `rdbLoadLen`, `rdbGenericLoadStringObject`), and the DUMP payload's seal: the RDB
//! version and a CRC64 after the value.
//!
//! A length takes 1, 2, 5 or 9 bytes: the top two bits of the first byte say which (6-bit,
//! 14-bit big-endian, then 0x80 + 32-bit or 0x81 + 64-bit big-endian); `11` instead marks a
//! specially encoded string: an 8, 16 or 32-bit little-endian integer, or LZF data.

use super::{crc64, lzf};

/// The RDB version Redis 7.0 writes (and the newest it reads).
pub const RDB_VERSION: u16 = 10;
/// Opcode of a function library (its code) in an RDB file or FUNCTION DUMP payload.
pub const OPCODE_FUNCTION2: u8 = 245;
/// Opcode of the older library form of Redis 7.0's release candidates.
pub const OPCODE_FUNCTION: u8 = 246;

/// Object types (rdb.h).
pub const TYPE_STRING: u8 = 0;
/// rdb.h's `RDB_TYPE_LIST`.
pub const TYPE_LIST: u8 = 1;
/// rdb.h's `RDB_TYPE_SET`.
pub const TYPE_SET: u8 = 2;
/// rdb.h's `RDB_TYPE_ZSET`.
pub const TYPE_ZSET: u8 = 3;
/// rdb.h's `RDB_TYPE_HASH`.
pub const TYPE_HASH: u8 = 4;
/// rdb.h's `RDB_TYPE_ZSET_2`.
pub const TYPE_ZSET_2: u8 = 5;
/// rdb.h's `RDB_TYPE_MODULE`.
pub const TYPE_MODULE: u8 = 6;
/// rdb.h's `RDB_TYPE_MODULE_2`.
pub const TYPE_MODULE_2: u8 = 7;
/// rdb.h's `RDB_TYPE_HASH_ZIPMAP`.
pub const TYPE_HASH_ZIPMAP: u8 = 9;
/// rdb.h's `RDB_TYPE_LIST_ZIPLIST`.
pub const TYPE_LIST_ZIPLIST: u8 = 10;
/// rdb.h's `RDB_TYPE_SET_INTSET`.
pub const TYPE_SET_INTSET: u8 = 11;
/// rdb.h's `RDB_TYPE_ZSET_ZIPLIST`.
pub const TYPE_ZSET_ZIPLIST: u8 = 12;
/// rdb.h's `RDB_TYPE_HASH_ZIPLIST`.
pub const TYPE_HASH_ZIPLIST: u8 = 13;
/// rdb.h's `RDB_TYPE_LIST_QUICKLIST`.
pub const TYPE_LIST_QUICKLIST: u8 = 14;
/// rdb.h's `RDB_TYPE_STREAM_LISTPACKS`.
pub const TYPE_STREAM_LISTPACKS: u8 = 15;
/// rdb.h's `RDB_TYPE_HASH_LISTPACK`.
pub const TYPE_HASH_LISTPACK: u8 = 16;
/// rdb.h's `RDB_TYPE_ZSET_LISTPACK`.
pub const TYPE_ZSET_LISTPACK: u8 = 17;
/// rdb.h's `RDB_TYPE_LIST_QUICKLIST_2`.
pub const TYPE_LIST_QUICKLIST_2: u8 = 18;
/// rdb.h's `RDB_TYPE_STREAM_LISTPACKS_2`.
pub const TYPE_STREAM_LISTPACKS_2: u8 = 19;

/// File opcodes (rdb.h); the function ones are in [`rdb`].
pub const OPCODE_MODULE_AUX: u8 = 247;
/// rdb.h's `RDB_OPCODE_IDLE`.
pub const OPCODE_IDLE: u8 = 248;
/// rdb.h's `RDB_OPCODE_FREQ`.
pub const OPCODE_FREQ: u8 = 249;
/// rdb.h's `RDB_OPCODE_AUX`.
pub const OPCODE_AUX: u8 = 250;
/// rdb.h's `RDB_OPCODE_RESIZEDB`.
pub const OPCODE_RESIZEDB: u8 = 251;
/// rdb.h's `RDB_OPCODE_EXPIRETIME_MS`.
pub const OPCODE_EXPIRETIME_MS: u8 = 252;
/// rdb.h's `RDB_OPCODE_EXPIRETIME`.
pub const OPCODE_EXPIRETIME: u8 = 253;
/// rdb.h's `RDB_OPCODE_SELECTDB`.
pub const OPCODE_SELECTDB: u8 = 254;
/// rdb.h's `RDB_OPCODE_EOF`.
pub const OPCODE_EOF: u8 = 255;

const LEN_6BIT: u8 = 0;
const LEN_14BIT: u8 = 1;
const LEN_32BIT: u8 = 0x80;
const LEN_64BIT: u8 = 0x81;
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Longest decompressed string per compressed byte: LZF's best case is a 2-byte
/// reference that produces 264 bytes. A claimed length beyond this is corrupt, and is
/// refused before anything is allocated for it.
const LZF_MAX_RATIO: usize = 264;

/// Appends length `n`.
pub fn save_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push((LEN_6BIT << 6) | n as u8);
    } else if n < 1 << 14 {
        out.push((LEN_14BIT << 6) | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(LEN_32BIT);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(LEN_64BIT);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends string `s`: as an integer when it is the canonical form of one that fits in 32
/// bits (as Redis does for strings of up to 11 bytes), otherwise raw.
pub fn save_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11
        && let Some(v) = crate::resp::parse_i64(s)
        && v.to_string().as_bytes() == s
    {
        if let Ok(v) = i8::try_from(v) {
            out.extend_from_slice(&[0xC0 | ENC_INT8, v as u8]);
            return;
        }
        if let Ok(v) = i16::try_from(v) {
            out.push(0xC0 | ENC_INT16);
            out.extend_from_slice(&v.to_le_bytes());
            return;
        }
        if let Ok(v) = i32::try_from(v) {
            out.push(0xC0 | ENC_INT32);
            out.extend_from_slice(&v.to_le_bytes());
            return;
        }
    }
    save_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Seals a DUMP-style payload: appends the RDB version (2 bytes, little-endian) and the
/// CRC64 of everything before (8 bytes, little-endian).
pub fn seal_payload(out: &mut Vec<u8>) {
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(0, out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Checks a DUMP-style payload's footer (Redis's verifyDumpPayload): at least 10 bytes, an
/// RDB version we read, and a matching CRC64. Returns the body before the footer.
pub fn verify_payload(payload: &[u8]) -> Option<&[u8]> {
    if payload.len() < 10 {
        return None;
    }
    let footer = &payload[payload.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return None;
    }
    if SKIP_CHECKSUM_VALIDATION.load(std::sync::atomic::Ordering::Relaxed) {
        return Some(&payload[..payload.len() - 10]);
    }
    let crc = crc64::crc64(0, &payload[..payload.len() - 8]);
    (crc.to_le_bytes() == footer[2..]).then_some(&payload[..payload.len() - 10])
}

/// `DEBUG SET-SKIP-CHECKSUM-VALIDATION 1`: RESTORE payloads and RDB files are taken
/// without checking their CRC64 (Redis's tests use it to feed corrupt bodies to the
/// loader's own checks). Read from the loading thread too, hence an atomic.
pub static SKIP_CHECKSUM_VALIDATION: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// A reader over RDB bytes; every read checks the bounds.
#[derive(Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

/// A length, or an encoded string's marker.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// One byte (a type or an opcode).
    pub fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn len_or_encoding(&mut self) -> Option<Len> {
        let first = self.byte()?;
        Some(match first >> 6 {
            0 => Len::Plain(u64::from(first & 0x3f)),
            1 => Len::Plain(u64::from(first & 0x3f) << 8 | u64::from(self.byte()?)),
            3 => Len::Encoded(first & 0x3f),
            _ => match first {
                LEN_32BIT => Len::Plain(u64::from(u32::from_be_bytes(
                    self.take(4)?.try_into().ok()?,
                ))),
                LEN_64BIT => Len::Plain(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
                _ => return None,
            },
        })
    }

    /// A length (not an encoded string).
    pub fn length(&mut self) -> Option<u64> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Some(n),
            Len::Encoded(_) => None,
        }
    }

    /// A string in any of its encodings.
    pub fn string(&mut self) -> Option<Vec<u8>> {
        match self.len_or_encoding()? {
            Len::Plain(n) => self.take(usize::try_from(n).ok()?).map(<[u8]>::to_vec),
            Len::Encoded(ENC_INT8) => Some((self.byte()? as i8).to_string().into_bytes()),
            Len::Encoded(ENC_INT16) => {
                let v = i16::from_le_bytes(self.take(2)?.try_into().ok()?);
                Some(v.to_string().into_bytes())
            }
            Len::Encoded(ENC_INT32) => {
                let v = i32::from_le_bytes(self.take(4)?.try_into().ok()?);
                Some(v.to_string().into_bytes())
            }
            Len::Encoded(ENC_LZF) => {
                let compressed = usize::try_from(self.length()?).ok()?;
                let len = usize::try_from(self.length()?).ok()?;
                if len > compressed.saturating_mul(LZF_MAX_RATIO) {
                    return None;
                }
                lzf::decompress(self.take(compressed)?, len)
            }
            Len::Encoded(_) => None,
        }
    }

    /// How many bytes have been read (the checksum of a file covers `data[..position]`).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// A 32-bit little-endian signed integer (an expire time in seconds).
    pub fn le_i32(&mut self) -> Option<i32> {
        Some(i32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    /// A 64-bit little-endian signed integer (a time in milliseconds).
    pub fn le_i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A double as 8 little-endian IEEE 754 bytes (sorted set scores since RDB 8).
    pub fn binary_double(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A double in the older text form (Redis's rdbLoadDoubleValue): a length byte, with
    /// 253, 254 and 255 standing for NaN, +inf and -inf, then that many bytes of text.
    pub fn text_double(&mut self) -> Option<f64> {
        match self.byte()? {
            253 => Some(f64::NAN),
            254 => Some(f64::INFINITY),
            255 => Some(f64::NEG_INFINITY),
            n => {
                let text = std::str::from_utf8(self.take(usize::from(n))?).ok()?;
                text.trim_start().parse().ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_in_each_width() {
        for n in [
            0,
            63,
            64,
            16383,
            16384,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
        ] {
            let mut out = Vec::new();
            save_len(&mut out, n);
            let expected = match n {
                0..=63 => 1,
                64..=16383 => 2,
                16384..=0xffff_ffff => 5,
                _ => 9,
            };
            assert_eq!(out.len(), expected, "{n}");
            assert_eq!(Reader::new(&out).length(), Some(n));
        }
    }

    #[test]
    fn strings_round_trip_and_integers_are_encoded() {
        for s in [
            &b""[..],
            b"hello",
            b"-128",
            b"127",
            b"32767",
            b"-2147483648",
            b"007",
            b"x",
        ] {
            let mut out = Vec::new();
            save_string(&mut out, s);
            assert_eq!(Reader::new(&out).string().as_deref(), Some(s));
        }
        let mut out = Vec::new();
        save_string(&mut out, b"-5");
        assert_eq!(out, [0xC0, 0xFB]);
        let mut out = Vec::new();
        save_string(&mut out, b"2147483648");
        assert_eq!(out[0], 10, "past 32 bits: raw");
    }

    #[test]
    fn hostile_input_is_refused_without_allocating() {
        // A 64-bit length far past the data.
        let mut out = vec![LEN_64BIT];
        out.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(Reader::new(&out).string(), None);
        // LZF claiming a huge decompressed size.
        let mut out = vec![0xC0 | ENC_LZF, 2];
        save_len(&mut out, 1 << 40);
        out.extend_from_slice(&[0, b'a']);
        assert_eq!(Reader::new(&out).string(), None);
        // Unknown encodings and truncated input.
        assert_eq!(Reader::new(&[0xC7]).string(), None);
        assert_eq!(Reader::new(&[0x82]).length(), None);
        assert_eq!(Reader::new(&[0x41]).length(), None);
        assert_eq!(Reader::new(&[5, b'a']).string(), None);
    }

    #[test]
    fn payload_seal() {
        let mut p = vec![OPCODE_FUNCTION2];
        save_string(&mut p, b"#!lua name=x\n");
        let body = p.clone();
        seal_payload(&mut p);
        assert_eq!(verify_payload(&p), Some(&body[..]));
        let mut bad = p.clone();
        bad[3] ^= 1;
        assert_eq!(verify_payload(&bad), None);
        let mut newer = body.clone();
        newer.extend_from_slice(&(RDB_VERSION + 1).to_le_bytes());
        let crc = crc64::crc64(0, &newer);
        newer.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(verify_payload(&newer), None);
        assert_eq!(verify_payload(&[0; 9]), None);
    }
}
