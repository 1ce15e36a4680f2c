//! `struct`: Roberto Ierusalimschy's library for packing binary structures (struct.c 1.7,
//! with Redis's offset check in `unpack`), for x86-64 Linux: native little endian,
//! `long` and `size_t` of 8 bytes, `int` of 4, maximum alignment 8.
//!
//! Format options: `>` `<` (endianness), `![n]` (alignment), `x` (a zero byte), `b B h H
//! l L T i[n] I[n]` (integers), `c[n]` (fixed string; `c0` packs the whole string, and when
//! unpacking takes its length from the previous number), `s` (zero-terminated string), `f`,
//! `d`, and spaces. The format is read as a C string: it stops at the first zero byte.

use std::ffi::c_int;

use mlua::ffi::{self, lua_CFunction, lua_State};

use super::{Fail, c_to_i64, c_to_u64, check_bytes, check_number, guard, protected, push_bytes};

/// Largest integer size, in bytes.
const MAX_INT_SIZE: usize = 32;
/// Default alignment for `!` without a number (the alignment of a double).
const MAX_ALIGN: usize = 8;

#[derive(Clone, Copy)]
struct Header {
    little: bool,
    align: usize,
}

impl Header {
    fn new() -> Header {
        Header {
            little: true,
            align: 1,
        }
    }
}

/// A cursor over the format, which ends at the first zero byte or at the end.
struct Format<'a> {
    fmt: &'a [u8],
    i: usize,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.fmt.get(self.i)?;
        if c == 0 {
            return None;
        }
        self.i += 1;
        Some(c)
    }

    fn peek_digit(&self) -> Option<u8> {
        self.fmt.get(self.i).copied().filter(u8::is_ascii_digit)
    }

    /// A decimal number at the cursor, or `default` if there is none.
    fn number(&mut self, default: usize) -> Result<usize, Fail> {
        if self.peek_digit().is_none() {
            return Ok(default);
        }
        let mut a: i32 = 0;
        while let Some(d) = self.peek_digit() {
            let d = i32::from(d - b'0');
            if a > i32::MAX / 10 || a * 10 > i32::MAX - d {
                return Err(Fail::error("integral size overflow"));
            }
            a = a * 10 + d;
            self.i += 1;
        }
        Ok(a as usize)
    }

    /// The size of option `opt` (reading its number, if it takes one); 0 for options that
    /// need no alignment.
    fn size(&mut self, opt: u8) -> Result<usize, Fail> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(1)?,
            b'i' | b'I' => {
                let sz = self.number(4)?;
                if sz > MAX_INT_SIZE {
                    return Err(Fail::error(format!(
                        "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                sz
            }
            _ => 0,
        })
    }

    /// Endianness, alignment and spaces; anything else is an invalid option.
    fn control(&mut self, opt: u8, h: &mut Header) -> Result<(), Fail> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.number(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(Fail::error(format!("alignment {a} is not a power of 2")));
                }
                h.align = a;
            }
            _ => {
                return Err(Fail::arg(
                    1,
                    format!("invalid format option '{}'", opt as char),
                ));
            }
        }
        Ok(())
    }
}

/// Padding needed before an item of `size` bytes at offset `len` (with the original's
/// arithmetic, which assumes power-of-two sizes).
fn padding(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
}

fn is_integer_option(opt: u8) -> bool {
    matches!(
        opt,
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I'
    )
}

/// `struct.pack(fmt, ...)`.
unsafe extern "C-unwind" fn pack(l: *mut lua_State) -> c_int {
    unsafe { guard(l, || pack_impl(l)) }
}

unsafe fn pack_impl(l: *mut lua_State) -> Result<c_int, Fail> {
    unsafe {
        let mut f = Format {
            fmt: check_bytes(l, 1)?,
            i: 0,
        };
        let mut h = Header::new();
        let mut arg: c_int = 2;
        let mut out: Vec<u8> = Vec::new();
        while let Some(opt) = f.next() {
            let mut size = f.size(opt)?;
            let pad = padding(out.len(), &h, opt, size);
            out.resize(out.len() + pad, 0);
            match opt {
                _ if is_integer_option(opt) => {
                    let n = check_number(l, arg)?;
                    arg += 1;
                    let v = if n < 0.0 {
                        c_to_i64(n) as u64
                    } else {
                        c_to_u64(n)
                    };
                    let byte = |i: usize| if i < 8 { (v >> (8 * i)) as u8 } else { 0 };
                    if h.little {
                        out.extend((0..size).map(byte));
                    } else {
                        out.extend((0..size).rev().map(byte));
                    }
                }
                b'x' => out.push(0),
                b'f' => {
                    let v = check_number(l, arg)? as f32;
                    arg += 1;
                    let b = if h.little {
                        v.to_le_bytes()
                    } else {
                        v.to_be_bytes()
                    };
                    out.extend_from_slice(&b);
                }
                b'd' => {
                    let v = check_number(l, arg)?;
                    arg += 1;
                    let b = if h.little {
                        v.to_le_bytes()
                    } else {
                        v.to_be_bytes()
                    };
                    out.extend_from_slice(&b);
                }
                b'c' | b's' => {
                    let s = check_bytes(l, arg)?;
                    arg += 1;
                    if size == 0 {
                        size = s.len();
                    }
                    if s.len() < size {
                        // The original reports the argument after the string.
                        return Err(Fail::arg(arg, "string too short"));
                    }
                    out.extend_from_slice(&s[..size]);
                    if opt == b's' {
                        out.push(0);
                    }
                }
                _ => f.control(opt, &mut h)?,
            }
        }
        protected(l, |l| {
            push_bytes(l, &out);
            1
        })
    }
}

/// A value `unpack` returns.
enum Item<'a> {
    Num(f64),
    Str(&'a [u8]),
}

/// Reads an integer of `size` bytes into the 64-bit accumulator of the original (bytes
/// beyond the eighth shift out), sign-extending from bit `size * 8 - 1` for signed options.
fn read_integer(b: &[u8], little: bool, signed: bool) -> f64 {
    let mut v: u64 = 0;
    let mut add = |byte: u8| v = (v << 8) | u64::from(byte);
    if little {
        b.iter().rev().for_each(|&x| add(x));
    } else {
        b.iter().for_each(|&x| add(x));
    }
    if !signed {
        return v as f64;
    }
    // The shift count is taken modulo 64, as x86 does for the original's oversized shifts.
    let shift = ((b.len() * 8) as u32).wrapping_sub(1) & 63;
    let mask = u64::MAX << shift;
    if v & mask != 0 {
        v |= mask;
    }
    v as i64 as f64
}

/// Lua 5.1's `lua_isnumber` / `lua_tonumber` for a string (`luaO_str2d`): C `strtod`, or
/// `strtoul` base 16 after a `0x`, then only trailing spaces. The string is read as a C
/// string, up to its first zero byte.
fn lua_str_to_number(s: &[u8]) -> Option<f64> {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    let mut c = s[..end].to_vec();
    c.push(0);
    let start = c.as_ptr() as *mut libc::c_char;
    let mut endp: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `c` is NUL-terminated and outlives both calls; `endp` points into it.
    unsafe {
        let mut v = libc::strtod(start, &mut endp);
        if endp == start {
            return None;
        }
        if matches!(*endp as u8, b'x' | b'X') {
            v = libc::strtoul(start, &mut endp, 16) as f64;
        }
        let mut p = endp as *const u8;
        while (*p).is_ascii_whitespace() || *p == 0x0b {
            p = p.add(1);
        }
        if *p != 0 {
            return None;
        }
        Some(v)
    }
}

/// `struct.unpack(fmt, data [, init])`: the values, then the position after them.
unsafe extern "C-unwind" fn unpack(l: *mut lua_State) -> c_int {
    unsafe {
        // Argument checks first, as the original, while nothing is allocated.
        ffi::luaL_checklstring(l, 1, std::ptr::null_mut());
        ffi::luaL_checklstring(l, 2, std::ptr::null_mut());
        let init = ffi::luaL_optinteger(l, 3, 1);
        if init as u64 == 0 {
            ffi::luaL_argerror(l, 3, c"offset must be 1 or greater".as_ptr());
        }
        guard(l, || unpack_impl(l, init as u64 as usize - 1))
    }
}

unsafe fn unpack_impl(l: *mut lua_State, mut pos: usize) -> Result<c_int, Fail> {
    unsafe {
        let mut f = Format {
            fmt: check_bytes(l, 1)?,
            i: 0,
        };
        let data = check_bytes(l, 2)?;
        let ld = data.len();
        let mut h = Header::new();
        let mut items: Vec<Item> = Vec::new();
        let base_top = ffi::lua_gettop(l) as usize;
        let too_short = || Fail::arg(2, "data string too short");
        while let Some(opt) = f.next() {
            let mut size = f.size(opt)?;
            pos = pos.wrapping_add(padding(pos, &h, opt, size));
            if !(size <= ld && pos <= ld - size) {
                return Err(too_short());
            }
            if base_top + items.len() + 2 > super::MAX_C_STACK {
                return Err(Fail::error("stack overflow (too many results)"));
            }
            match opt {
                _ if is_integer_option(opt) => {
                    let signed = opt.is_ascii_lowercase();
                    items.push(Item::Num(read_integer(
                        &data[pos..pos + size],
                        h.little,
                        signed,
                    )));
                }
                b'x' => {}
                b'f' => {
                    let b: [u8; 4] = data[pos..pos + 4].try_into().unwrap_or([0; 4]);
                    let v = if h.little {
                        f32::from_le_bytes(b)
                    } else {
                        f32::from_be_bytes(b)
                    };
                    items.push(Item::Num(f64::from(v)));
                }
                b'd' => {
                    let b: [u8; 8] = data[pos..pos + 8].try_into().unwrap_or([0; 8]);
                    let v = if h.little {
                        f64::from_le_bytes(b)
                    } else {
                        f64::from_be_bytes(b)
                    };
                    items.push(Item::Num(v));
                }
                b'c' => {
                    if size == 0 {
                        let prev = match items.last() {
                            Some(Item::Num(n)) => Some(*n),
                            Some(Item::Str(s)) => lua_str_to_number(s),
                            None => None,
                        };
                        let Some(n) = prev else {
                            return Err(Fail::error("format 'c0' needs a previous size"));
                        };
                        size = c_to_u64(n) as usize;
                        items.pop();
                        if !(size <= ld && pos <= ld - size) {
                            return Err(too_short());
                        }
                    }
                    items.push(Item::Str(&data[pos..pos + size]));
                }
                b's' => {
                    let Some(z) = data[pos..].iter().position(|&b| b == 0) else {
                        return Err(Fail::error("unfinished string in data"));
                    };
                    items.push(Item::Str(&data[pos..pos + z]));
                    size = z + 1;
                }
                _ => f.control(opt, &mut h)?,
            }
            pos = pos.wrapping_add(size);
        }
        let next = pos.wrapping_add(1) as i64;
        protected(l, |l| {
            ffi::lua_checkstack(l, items.len() as c_int + 1);
            for it in &items {
                match it {
                    Item::Num(n) => ffi::lua_pushnumber(l, *n),
                    Item::Str(s) => push_bytes(l, s),
                }
            }
            ffi::lua_pushinteger(l, next);
            items.len() as c_int + 1
        })
    }
}

/// `struct.size(fmt)`: the size of a format without variable-length items.
unsafe extern "C-unwind" fn size(l: *mut lua_State) -> c_int {
    unsafe {
        guard(l, || {
            let mut f = Format {
                fmt: check_bytes(l, 1)?,
                i: 0,
            };
            let mut h = Header::new();
            let mut pos: usize = 0;
            while let Some(opt) = f.next() {
                let size = f.size(opt)?;
                pos = pos.wrapping_add(padding(pos, &h, opt, size));
                if opt == b's' {
                    return Err(Fail::arg(1, "option 's' has no fixed size"));
                } else if opt == b'c' && size == 0 {
                    return Err(Fail::arg(1, "option 'c0' has no fixed size"));
                }
                // Unknown letters and digits are ignored here, unlike in pack and unpack.
                if !opt.is_ascii_alphanumeric() {
                    f.control(opt, &mut h)?;
                }
                pos = pos.wrapping_add(size);
            }
            ffi::lua_pushinteger(l, pos as i64);
            Ok(1)
        })
    }
}

const FUNCS: &[(&std::ffi::CStr, lua_CFunction)] =
    &[(c"pack", pack), (c"unpack", unpack), (c"size", size)];

/// Creates the global `struct` table.
pub fn open(lua: &mlua::Lua) -> mlua::Result<()> {
    super::open_simple(lua, "struct", FUNCS, &[])
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{err, eval, eval_str, lua};

    /// Byte strings as Lua shows them in a `%q`-free way: each byte as two hex digits.
    fn hex(lua: &mlua::Lua, expr: &str) -> String {
        let b = eval(lua, &format!("return {expr}"));
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Expected values were produced by redis-server 7.0.15.
    #[test]
    fn pack_matches_redis() {
        let lua = lua();
        let cases: &[(&str, &str)] = &[
            ("struct.pack('>i', 1)", "00000001"),
            ("struct.pack('<i2', -2)", "feff"),
            ("struct.pack('b', 200)", "c8"),
            ("struct.pack('>I3', 0x123456)", "123456"),
            ("struct.pack('<l', -1)", "ffffffffffffffff"),
            ("struct.pack('<i10', -1)", "ffffffffffffffff0000"),
            ("struct.pack('!4 b i', 1, 2)", "0100000002000000"),
            (
                "struct.pack('!b d', 1, 1.5)",
                "0100000000000000000000000000f83f",
            ),
            ("struct.pack('>d', 0.1)", "3fb999999999999a"),
            ("struct.pack('<f', 0.5)", "0000003f"),
            ("struct.pack('s', 'ab')", "616200"),
            ("struct.pack('c0', 'hello')", "68656c6c6f"),
            ("struct.pack('c3', 'hello')", "68656c"),
            ("struct.pack('>h x H', -2, 3)", "fffe000003"),
            ("struct.pack('B', 1e20)", "00"),
            ("struct.pack('i', 3.9)", "03000000"),
        ];
        for (code, want) in cases {
            assert_eq!(hex(&lua, code), *want, "{code}");
        }
    }

    #[test]
    fn unpack_and_size_match_redis() {
        let lua = lua();
        let cases: &[(&str, &str)] = &[
            (
                "return table.concat({struct.unpack('>i2 <i2', '\\1\\2\\1\\2')}, ',')",
                "258,513,5",
            ),
            (
                "return table.concat({struct.unpack('b B', '\\255\\255')}, ',')",
                "-1,255,3",
            ),
            (
                "return table.concat({struct.unpack('b c0 b', '\\3abc\\9')}, ',')",
                "abc,9,6",
            ),
            (
                "return table.concat({struct.unpack('s b', 'hi\\0\\7')}, ',')",
                "hi,7,5",
            ),
            (
                "return table.concat({struct.unpack('>I2', 'xx\\1\\2', 3)}, ',')",
                "258,5",
            ),
            (
                "return table.concat({struct.unpack('<d', struct.pack('<d', 1/3))}, ',')",
                "0.33333333333333,9",
            ),
            ("return struct.size('!4 b i d')", "16"),
            ("return struct.size('i3 c10 x')", "14"),
            ("return struct.size('bz')", "1"),
        ];
        for (code, want) in cases {
            assert_eq!(eval_str(&lua, code), *want, "{code}");
        }
    }

    #[test]
    fn errors_match_redis() {
        let lua = lua();
        let cases: &[(&str, &str)] = &[
            (
                "return struct.pack('X')",
                "user_script:1: bad argument #1 to 'pack' (invalid format option 'X')",
            ),
            (
                "return struct.pack('c5', 'ab')",
                "user_script:1: bad argument #3 to 'pack' (string too short)",
            ),
            (
                "return struct.pack('i33', 1)",
                "user_script:1: integral size 33 is larger than limit of 32",
            ),
            (
                "return struct.pack('!3')",
                "user_script:1: alignment 3 is not a power of 2",
            ),
            (
                "return struct.pack('i', 'x')",
                "user_script:1: bad argument #2 to 'pack' (number expected, got string)",
            ),
            (
                "return struct.pack('i99999999999', 1)",
                "user_script:1: integral size overflow",
            ),
            (
                "return struct.unpack('i', 'ab')",
                "user_script:1: bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "return struct.unpack('b', 'ab', 0)",
                "user_script:1: bad argument #3 to 'unpack' (offset must be 1 or greater)",
            ),
            (
                "return struct.unpack('s', 'ab')",
                "user_script:1: unfinished string in data",
            ),
            (
                "return struct.unpack('c0', 'ab')",
                "user_script:1: format 'c0' needs a previous size",
            ),
            (
                "return struct.size('s')",
                "user_script:1: bad argument #1 to 'size' (option 's' has no fixed size)",
            ),
            (
                "return struct.size('c0')",
                "user_script:1: bad argument #1 to 'size' (option 'c0' has no fixed size)",
            ),
            (
                "return struct.unpack('b', nil)",
                "user_script:1: bad argument #2 to 'unpack' (string expected, got nil)",
            ),
        ];
        for (code, want) in cases {
            assert_eq!(err(&lua, code), *want, "{code}");
        }
    }
}
