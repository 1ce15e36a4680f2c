//! `bit`: LuaBitOp 1.0.2 (Mike Pall), as Redis bundles it.
//!
//! Every argument is a Lua double turned into 32 bits the LuaBitOp way: adding 2^52 + 2^51
//! puts the integer part, rounded to nearest-even and taken modulo 2^32, in the low word of
//! the double. Results are returned as signed 32-bit numbers. Arguments go through
//! `lua_tonumber`, so numeric strings are accepted; anything else that converts to 0 is a
//! `number expected` argument error.

use std::ffi::c_int;

use mlua::ffi::{self, lua_CFunction, lua_State};

/// 2^52 + 2^51.
const NORMALIZE: f64 = 6755399441055744.0;

/// Converts argument `idx` to 32 bits (raising the C library's type error itself: no Rust
/// value is alive in these functions).
unsafe fn arg(l: *mut lua_State, idx: c_int) -> u32 {
    unsafe {
        let n = ffi::lua_tonumber(l, idx);
        let b = (n + NORMALIZE).to_bits() as u32;
        if b == 0 && ffi::lua_isnumber(l, idx) == 0 {
            ffi::luaL_typerror(l, idx, c"number".as_ptr());
        }
        b
    }
}

unsafe fn ret(l: *mut lua_State, b: u32) -> c_int {
    unsafe { ffi::lua_pushnumber(l, b as i32 as f64) };
    1
}

unsafe extern "C-unwind" fn tobit(l: *mut lua_State) -> c_int {
    unsafe { ret(l, arg(l, 1)) }
}

unsafe extern "C-unwind" fn bnot(l: *mut lua_State) -> c_int {
    unsafe { ret(l, !arg(l, 1)) }
}

/// Folds arguments 2..n into argument 1, from the last one down as the original does (the
/// order only shows in which bad argument is reported).
unsafe fn fold(l: *mut lua_State, op: fn(u32, u32) -> u32) -> c_int {
    unsafe {
        let mut b = arg(l, 1);
        let mut i = ffi::lua_gettop(l);
        while i > 1 {
            b = op(b, arg(l, i));
            i -= 1;
        }
        ret(l, b)
    }
}

unsafe extern "C-unwind" fn band(l: *mut lua_State) -> c_int {
    unsafe { fold(l, |a, b| a & b) }
}

unsafe extern "C-unwind" fn bor(l: *mut lua_State) -> c_int {
    unsafe { fold(l, |a, b| a | b) }
}

unsafe extern "C-unwind" fn bxor(l: *mut lua_State) -> c_int {
    unsafe { fold(l, |a, b| a ^ b) }
}

/// Shifts and rotations use the count modulo 32.
unsafe fn shift(l: *mut lua_State, op: fn(u32, u32) -> u32) -> c_int {
    unsafe {
        let b = arg(l, 1);
        let n = arg(l, 2) & 31;
        ret(l, op(b, n))
    }
}

unsafe extern "C-unwind" fn lshift(l: *mut lua_State) -> c_int {
    unsafe { shift(l, |b, n| b << n) }
}

unsafe extern "C-unwind" fn rshift(l: *mut lua_State) -> c_int {
    unsafe { shift(l, |b, n| b >> n) }
}

unsafe extern "C-unwind" fn arshift(l: *mut lua_State) -> c_int {
    unsafe { shift(l, |b, n| ((b as i32) >> n) as u32) }
}

unsafe extern "C-unwind" fn rol(l: *mut lua_State) -> c_int {
    unsafe { shift(l, u32::rotate_left) }
}

unsafe extern "C-unwind" fn ror(l: *mut lua_State) -> c_int {
    unsafe { shift(l, u32::rotate_right) }
}

unsafe extern "C-unwind" fn bswap(l: *mut lua_State) -> c_int {
    unsafe { ret(l, arg(l, 1).swap_bytes()) }
}

/// `tohex(x [, n])`: the low `|n|` hex digits of x (at most 8; 8 when n is absent),
/// uppercase when n is negative.
unsafe extern "C-unwind" fn tohex(l: *mut lua_State) -> c_int {
    unsafe {
        let mut b = arg(l, 1);
        let mut n: i32 = if ffi::lua_type(l, 2) == ffi::LUA_TNONE {
            8
        } else {
            arg(l, 2) as i32
        };
        let digits: &[u8; 16] = if n < 0 {
            n = n.wrapping_neg();
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        // -(-2^31) stays negative: the original then asks for a string of 2^64 - 2^31 bytes
        // and fails; an empty string is the nearest sane answer.
        let n = n.clamp(0, 8) as usize;
        let mut buf = [0u8; 8];
        for i in (0..n).rev() {
            buf[i] = digits[(b & 15) as usize];
            b >>= 4;
        }
        ffi::lua_pushlstring_(l, buf.as_ptr().cast(), n);
        1
    }
}

const FUNCS: &[(&std::ffi::CStr, lua_CFunction)] = &[
    (c"tobit", tobit),
    (c"bnot", bnot),
    (c"band", band),
    (c"bor", bor),
    (c"bxor", bxor),
    (c"lshift", lshift),
    (c"rshift", rshift),
    (c"arshift", arshift),
    (c"rol", rol),
    (c"ror", ror),
    (c"bswap", bswap),
    (c"tohex", tohex),
];

/// Creates the global `bit` table.
pub fn open(lua: &mlua::Lua) -> mlua::Result<()> {
    super::open_simple(lua, "bit", FUNCS, &[])
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{err, eval_str, lua};

    /// Expected values were produced by redis-server 7.0.15 (`EVAL "return ..." 0`, the
    /// results turned into strings with `tostring` as here).
    #[test]
    fn matches_redis() {
        let lua = lua();
        let cases: &[(&str, &str)] = &[
            ("return bit.tobit(0xffffffff)", "-1"),
            ("return bit.tobit(2^32 + 5)", "5"),
            ("return bit.tobit(1.5)", "2"),
            ("return bit.tobit(2.5)", "2"),
            ("return bit.tobit(-1.5)", "-2"),
            ("return bit.tobit('0x10')", "16"),
            ("return bit.bnot(0)", "-1"),
            ("return bit.band(0xff, 0x0f, 0x3c)", "12"),
            ("return bit.bor(1, 2, 4, 8)", "15"),
            ("return bit.bxor(0xf0, 0xff)", "15"),
            ("return bit.lshift(1, 31)", "-2147483648"),
            ("return bit.lshift(1, 33)", "2"),
            ("return bit.rshift(-1, 28)", "15"),
            ("return bit.arshift(-256, 4)", "-16"),
            ("return bit.rol(0x12345678, 12)", "1164411171"),
            ("return bit.ror(0x12345678, 12)", "1736516421"),
            ("return bit.bswap(0x12345678)", "2018915346"),
            ("return bit.tohex(255)", "000000ff"),
            ("return bit.tohex(-1, -4)", "FFFF"),
            ("return bit.tohex(0x12345678, 12)", "12345678"),
            ("return bit.tohex(0xabc, 2)", "bc"),
            ("return bit.tohex(1, 0)", ""),
            ("return bit.tobit(1/0)", "0"),
            ("return bit.tobit(0/0)", "0"),
        ];
        for (code, want) in cases {
            assert_eq!(eval_str(&lua, code), *want, "{code}");
        }
    }

    #[test]
    fn errors_match_redis() {
        let lua = lua();
        assert_eq!(
            err(&lua, "return bit.band(1, 'x')"),
            "user_script:1: bad argument #2 to 'band' (number expected, got string)"
        );
        assert_eq!(
            err(&lua, "return bit.tobit()"),
            "user_script:1: bad argument #1 to 'tobit' (number expected, got no value)"
        );
        assert_eq!(
            err(&lua, "return bit.tohex(1, nil)"),
            "user_script:1: bad argument #2 to 'tohex' (number expected, got nil)"
        );
        assert_eq!(
            err(&lua, "return bit.bor({})"),
            "user_script:1: bad argument #1 to 'bor' (number expected, got table)"
        );
        // Under pcall(f, ...) the call site gives no name and no position.
        assert_eq!(
            eval_str(&lua, "local ok, e = pcall(bit.tobit) return e"),
            "bad argument #1 to '?' (number expected, got no value)"
        );
        // A tail call keeps the caller's position, as with the C function.
        assert_eq!(
            err(
                &lua,
                "local function f() return bit.bnot('z') end return f()"
            ),
            "user_script:1: bad argument #1 to 'bnot' (number expected, got string)"
        );
    }
}
