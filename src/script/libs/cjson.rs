//! `cjson`: lua-cjson 2.1.0 (Mark Pulford), as Redis 7.0 bundles it.
//!
//! Encoding: strings escape `"` `\` `/` (as `\/`), the control characters and DEL; numbers
//! are printed with C's `%.14g` (the precision is configurable, 1 to 14); a table is an array
//! when all its keys are positive integers (holes become `null`) unless it is "excessively
//! sparse", otherwise an object whose keys must be strings or numbers; the empty table is
//! `{}`; `nil` and `cjson.null` are `null`.
//!
//! Decoding: numbers go through C's `strtod` (so, by default, also `Infinity`, `NaN` and
//! hexadecimal), `\uXXXX` escapes (with surrogate pairs) become UTF-8, `null` becomes
//! `cjson.null` (a NULL light userdata). The input is read as the original reads its C
//! string: a zero byte ends it.
//!
//! Redis 7.0.15 has no `decode_array_with_array_mt` nor `cjson.array_mt` (later Redis
//! versions added them), so neither exists here.

use std::ffi::{CStr, c_char, c_int, c_void};

use mlua::ffi::{self, lua_CFunction, lua_State};

use super::{Fail, c_to_i32, guard, protected, push_bytes, push_trampoline, set_functions};

/// The settings of one cjson module table (`cjson.new()` makes another), kept in a full
/// userdata that all its functions hold as upvalue 2.
#[repr(C)]
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: c_int,
    sparse_ratio: c_int,
    sparse_safe: c_int,
    encode_max_depth: c_int,
    /// 0: error, 1: encode as `nan` / `inf`, 2: encode as `null`.
    encode_invalid_numbers: c_int,
    encode_number_precision: c_int,
    encode_keep_buffer: c_int,
    decode_invalid_numbers: c_int,
    decode_max_depth: c_int,
}

const DEFAULTS: Config = Config {
    sparse_convert: 0,
    sparse_ratio: 2,
    sparse_safe: 10,
    encode_max_depth: 1000,
    encode_invalid_numbers: 0,
    encode_number_precision: 14,
    encode_keep_buffer: 1,
    decode_invalid_numbers: 1,
    decode_max_depth: 1000,
};

unsafe fn config(l: *mut lua_State) -> *mut Config {
    unsafe { ffi::lua_touserdata(l, ffi::lua_upvalueindex(2)).cast::<Config>() }
}

// ===== Configuration functions =====
//
// These only call lauxlib, which raises its own errors: no Rust value needs dropping.

/// At most `n` arguments (else `found too many arguments` on argument n+1), padded with nil.
unsafe fn arg_init(l: *mut lua_State, n: c_int) -> *mut Config {
    unsafe {
        if ffi::lua_gettop(l) > n {
            ffi::luaL_argerror(l, n + 1, c"found too many arguments".as_ptr());
        }
        while ffi::lua_gettop(l) < n {
            ffi::lua_pushnil(l);
        }
        config(l)
    }
}

/// Sets an integer option from argument `idx` unless it is nil, and pushes its value. The
/// range error names argument 1 whatever `idx` is, as the original does.
unsafe fn integer_option(
    l: *mut lua_State,
    idx: c_int,
    setting: *mut c_int,
    min: c_int,
    max: c_int,
) {
    unsafe {
        if ffi::lua_type(l, idx) != ffi::LUA_TNIL {
            let value = ffi::luaL_checkinteger(l, idx) as c_int;
            if !(min <= value && value <= max) {
                let mut msg = [0u8; 64];
                let text = format!("expected integer between {min} and {max}");
                msg[..text.len()].copy_from_slice(text.as_bytes());
                drop(text);
                ffi::luaL_argerror(l, 1, msg.as_ptr().cast());
            }
            *setting = value;
        }
        ffi::lua_pushinteger(l, (*setting).into());
    }
}

/// Sets an enumerated option (a boolean, or one of `names`) from argument `idx` unless it
/// is nil, and pushes its value: a boolean for off / on, else the option's name.
unsafe fn enum_option(l: *mut lua_State, idx: c_int, setting: *mut c_int, names: &[&CStr]) {
    unsafe {
        if ffi::lua_type(l, idx) != ffi::LUA_TNIL {
            if ffi::lua_type(l, idx) == ffi::LUA_TBOOLEAN {
                *setting = ffi::lua_toboolean(l, idx);
            } else {
                let mut list: [*const c_char; 4] = [std::ptr::null(); 4];
                for (slot, n) in list.iter_mut().zip(names) {
                    *slot = n.as_ptr();
                }
                *setting = ffi::luaL_checkoption(l, idx, std::ptr::null(), list.as_ptr());
            }
        }
        if *setting == 0 || *setting == 1 {
            ffi::lua_pushboolean(l, *setting);
        } else {
            ffi::lua_pushstring_(l, names[*setting as usize].as_ptr());
        }
    }
}

const OFF_ON: &[&CStr] = &[c"off", c"on"];

unsafe extern "C-unwind" fn cfg_encode_sparse_array(l: *mut lua_State) -> c_int {
    unsafe {
        let cfg = arg_init(l, 3);
        enum_option(l, 1, &raw mut (*cfg).sparse_convert, OFF_ON);
        integer_option(l, 2, &raw mut (*cfg).sparse_ratio, 0, c_int::MAX);
        integer_option(l, 3, &raw mut (*cfg).sparse_safe, 0, c_int::MAX);
        3
    }
}

unsafe extern "C-unwind" fn cfg_encode_max_depth(l: *mut lua_State) -> c_int {
    unsafe {
        let cfg = arg_init(l, 1);
        integer_option(l, 1, &raw mut (*cfg).encode_max_depth, 1, c_int::MAX);
        1
    }
}

unsafe extern "C-unwind" fn cfg_decode_max_depth(l: *mut lua_State) -> c_int {
    unsafe {
        let cfg = arg_init(l, 1);
        integer_option(l, 1, &raw mut (*cfg).decode_max_depth, 1, c_int::MAX);
        1
    }
}

unsafe extern "C-unwind" fn cfg_encode_number_precision(l: *mut lua_State) -> c_int {
    unsafe {
        let cfg = arg_init(l, 1);
        integer_option(l, 1, &raw mut (*cfg).encode_number_precision, 1, 14);
        1
    }
}

/// Only a memory-reuse setting in the original; kept so that scripts see the same answers.
unsafe extern "C-unwind" fn cfg_encode_keep_buffer(l: *mut lua_State) -> c_int {
    unsafe {
        let cfg = arg_init(l, 1);
        enum_option(l, 1, &raw mut (*cfg).encode_keep_buffer, OFF_ON);
        1
    }
}

unsafe extern "C-unwind" fn cfg_encode_invalid_numbers(l: *mut lua_State) -> c_int {
    unsafe {
        let cfg = arg_init(l, 1);
        enum_option(
            l,
            1,
            &raw mut (*cfg).encode_invalid_numbers,
            &[c"off", c"on", c"null"],
        );
        1
    }
}

unsafe extern "C-unwind" fn cfg_decode_invalid_numbers(l: *mut lua_State) -> c_int {
    unsafe {
        let cfg = arg_init(l, 1);
        enum_option(l, 1, &raw mut (*cfg).decode_invalid_numbers, OFF_ON);
        1
    }
}

// ===== Encoding =====

fn append_string(buf: &mut Vec<u8>, s: &[u8]) {
    buf.reserve(s.len() + 2);
    buf.push(b'"');
    for &c in s {
        match c {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'/' => buf.extend_from_slice(b"\\/"),
            0x08 => buf.extend_from_slice(b"\\b"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            0x0c => buf.extend_from_slice(b"\\f"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[usize::from(c >> 4)]);
                buf.push(HEX[usize::from(c & 15)]);
            }
            _ => buf.push(c),
        }
    }
    buf.push(b'"');
}

/// C's `%.<precision>g`.
fn format_g(buf: &mut Vec<u8>, num: f64, precision: c_int) {
    let fmt = format!("%.{precision}g\0");
    let mut out = [0u8; 64];
    // SAFETY: `fmt` is NUL-terminated with one double conversion; `out` has room for any
    // `%g` result of at most 14 digits and snprintf never writes past its size.
    let n = unsafe { libc::snprintf(out.as_mut_ptr().cast(), out.len(), fmt.as_ptr().cast(), num) };
    buf.extend_from_slice(&out[..(n.max(0) as usize).min(out.len() - 1)]);
}

fn append_number(buf: &mut Vec<u8>, cfg: &Config, num: f64) -> Result<(), Fail> {
    let invalid = num.is_nan() || num.is_infinite();
    match cfg.encode_invalid_numbers {
        0 if invalid => {
            return Err(Fail::error(
                "Cannot serialise number: must not be NaN or Inf",
            ));
        }
        1 if num.is_nan() => {
            buf.extend_from_slice(b"nan");
            return Ok(());
        }
        2 if invalid => {
            buf.extend_from_slice(b"null");
            return Ok(());
        }
        _ => {}
    }
    format_g(buf, num, cfg.encode_number_precision);
    Ok(())
}

unsafe fn type_name_at(l: *mut lua_State, idx: c_int) -> String {
    unsafe {
        CStr::from_ptr(ffi::lua_typename(l, ffi::lua_type(l, idx)))
            .to_string_lossy()
            .into_owned()
    }
}

/// The array length of the table on top of the stack: its largest key if all keys are
/// positive integers, else -1. Excessively sparse arrays are an error, or -1 (encoded as
/// objects) when conversion is on.
unsafe fn array_length(l: *mut lua_State, cfg: &Config) -> Result<c_int, Fail> {
    unsafe {
        let (mut max, mut items) = (0 as c_int, 0 as c_int);
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            if ffi::lua_type(l, -2) == ffi::LUA_TNUMBER {
                let k = ffi::lua_tonumber(l, -2);
                if k != 0.0 && k.floor() == k && k >= 1.0 {
                    if k > f64::from(max) {
                        max = c_to_i32(k);
                    }
                    items = items.wrapping_add(1);
                    ffi::lua_settop(l, -2);
                    continue;
                }
            }
            ffi::lua_settop(l, -3);
            return Ok(-1);
        }
        if cfg.sparse_ratio > 0
            && max > items.wrapping_mul(cfg.sparse_ratio)
            && max > cfg.sparse_safe
        {
            if cfg.sparse_convert == 0 {
                return Err(Fail::error(
                    "Cannot serialise table: excessively sparse array",
                ));
            }
            return Ok(-1);
        }
        Ok(max)
    }
}

/// Encodes the value on top of the stack (left there). Reads the stack with calls that do
/// not raise, except growing it when out of memory.
unsafe fn append_data(
    l: *mut lua_State,
    cfg: &Config,
    depth: c_int,
    buf: &mut Vec<u8>,
) -> Result<(), Fail> {
    unsafe {
        match ffi::lua_type(l, -1) {
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                let p = ffi::lua_tolstring(l, -1, &mut len);
                append_string(buf, std::slice::from_raw_parts(p.cast::<u8>(), len));
            }
            ffi::LUA_TNUMBER => append_number(buf, cfg, ffi::lua_tonumber(l, -1))?,
            ffi::LUA_TBOOLEAN => buf.extend_from_slice(if ffi::lua_toboolean(l, -1) != 0 {
                b"true"
            } else {
                b"false"
            }),
            ffi::LUA_TTABLE => {
                let depth = depth + 1;
                if depth > cfg.encode_max_depth || ffi::lua_checkstack(l, 3) == 0 {
                    return Err(Fail::error(format!(
                        "Cannot serialise, excessive nesting ({depth})"
                    )));
                }
                let len = array_length(l, cfg)?;
                if len > 0 {
                    buf.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            buf.push(b',');
                        }
                        ffi::lua_rawgeti_(l, -1, i);
                        append_data(l, cfg, depth, buf)?;
                        ffi::lua_settop(l, -2);
                    }
                    buf.push(b']');
                } else {
                    buf.push(b'{');
                    let mut first = true;
                    ffi::lua_pushnil(l);
                    while ffi::lua_next(l, -2) != 0 {
                        if !first {
                            buf.push(b',');
                        }
                        first = false;
                        match ffi::lua_type(l, -2) {
                            ffi::LUA_TNUMBER => {
                                buf.push(b'"');
                                append_number(buf, cfg, ffi::lua_tonumber(l, -2))?;
                                buf.extend_from_slice(b"\":");
                            }
                            ffi::LUA_TSTRING => {
                                let mut len = 0usize;
                                let p = ffi::lua_tolstring(l, -2, &mut len);
                                append_string(buf, std::slice::from_raw_parts(p.cast::<u8>(), len));
                                buf.push(b':');
                            }
                            _ => {
                                return Err(Fail::error(format!(
                                    "Cannot serialise {}: table key must be a number or string",
                                    type_name_at(l, -2)
                                )));
                            }
                        }
                        append_data(l, cfg, depth, buf)?;
                        ffi::lua_settop(l, -2);
                    }
                    buf.push(b'}');
                }
            }
            ffi::LUA_TNIL => buf.extend_from_slice(b"null"),
            ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(l, -1).is_null() => {
                buf.extend_from_slice(b"null")
            }
            _ => {
                return Err(Fail::error(format!(
                    "Cannot serialise {}: type not supported",
                    type_name_at(l, -1)
                )));
            }
        }
        Ok(())
    }
}

/// `cjson.encode(value)`.
unsafe extern "C-unwind" fn encode(l: *mut lua_State) -> c_int {
    unsafe {
        let cfg = *config(l);
        if ffi::lua_gettop(l) != 1 {
            ffi::luaL_argerror(l, 1, c"expected 1 argument".as_ptr());
        }
        guard(l, || {
            let mut buf = Vec::new();
            append_data(l, &cfg, 0, &mut buf)?;
            protected(l, |l| {
                push_bytes(l, &buf);
                1
            })
        })
    }
}

// ===== Decoding =====

/// A decoded JSON value, built in Rust before anything is pushed.
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(Vec<u8>),
    Array(Vec<Json>),
    Object(Vec<(Vec<u8>, Json)>),
}

enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Token {
    /// How parse errors name what was found.
    fn describe(&self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::Str(_) => "T_STRING",
            Token::Num(_) => "T_NUMBER",
            Token::Bool(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(e) => e,
        }
    }
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    cfg: Config,
    depth: c_int,
}

fn hex_digit(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

impl Parser<'_> {
    /// The byte at `i`, 0 past the end (the C string's terminator).
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn hex4(&self, i: usize) -> Option<u32> {
        let mut v = 0;
        for k in 0..4 {
            v = (v << 4) | hex_digit(self.at(i + k))?;
        }
        Some(v)
    }

    /// Appends the UTF-8 of the `\uXXXX` escape (or surrogate pair) at `pos` and moves past
    /// it.
    fn unicode_escape(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let mut cp = self.hex4(self.pos + 2)?;
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return None;
            }
            if self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return None;
            }
            let low = self.hex4(self.pos + 8)?;
            if low & 0xFC00 != 0xDC00 {
                return None;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        let c = char::from_u32(cp)?;
        let mut tmp = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
        self.pos += len;
        Some(())
    }

    fn string_token(&mut self) -> Token {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let ch = self.at(self.pos);
            match ch {
                b'"' => break,
                0 => return Token::Error("unexpected end of string"),
                b'\\' => {
                    let t = match self.at(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => 0x0c,
                        b'r' => b'\r',
                        b'u' => {
                            if self.unicode_escape(&mut out).is_none() {
                                return Token::Error("invalid unicode escape code");
                            }
                            continue;
                        }
                        _ => return Token::Error("invalid escape code"),
                    };
                    out.push(t);
                    self.pos += 2;
                }
                _ => {
                    out.push(ch);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        Token::Str(out)
    }

    /// Whether the number at `pos` is one strict JSON forbids (leading `+` or zero, hex,
    /// inf, nan), which `strtod` would accept.
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        match self.at(p) {
            b'+' => return true,
            b'-' => p += 1,
            _ => {}
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        if c <= b'9' {
            return false;
        }
        let word = [self.at(p), self.at(p + 1), self.at(p + 2)].map(|b| b.to_ascii_lowercase());
        &word == b"inf" || &word == b"nan"
    }

    /// C `strtod` at `pos`.
    fn number_token(&mut self) -> Token {
        // strtod cannot read past these characters (digits, signs, point, exponent and hex
        // letters, inf/nan words and nan's "(chars)").
        let run = self.data[self.pos.min(self.data.len())..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || b"+-._()".contains(b))
            .count();
        let mut s = self.data[self.pos..self.pos + run].to_vec();
        s.push(0);
        let start = s.as_ptr() as *const c_char;
        let mut end: *mut c_char = std::ptr::null_mut();
        // SAFETY: `s` is NUL-terminated and outlives the call; `end` points into it.
        let (v, used) = unsafe {
            let v = libc::strtod(start, &mut end);
            (v, end.offset_from(start) as usize)
        };
        if used == 0 {
            return Token::Error("invalid number");
        }
        self.pos += used;
        Token::Num(v)
    }

    /// The next token and the (0-based) position it is reported at.
    fn next_token(&mut self) -> (Token, usize) {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let start = self.pos;
        let ch = self.at(self.pos);
        let single = match ch {
            b'{' => Some(Token::ObjBegin),
            b'}' => Some(Token::ObjEnd),
            b'[' => Some(Token::ArrBegin),
            b']' => Some(Token::ArrEnd),
            b',' => Some(Token::Comma),
            b':' => Some(Token::Colon),
            _ => None,
        };
        if let Some(t) = single {
            self.pos += 1;
            return (t, start);
        }
        let rest = &self.data[self.pos.min(self.data.len())..];
        let tok = match ch {
            0 => Token::End,
            b'"' => self.string_token(),
            b'-' | b'0'..=b'9' => {
                if self.cfg.decode_invalid_numbers == 0 && self.is_invalid_number() {
                    Token::Error("invalid number")
                } else {
                    self.number_token()
                }
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => {
                if rest.starts_with(b"true") {
                    self.pos += 4;
                    Token::Bool(true)
                } else if rest.starts_with(b"false") {
                    self.pos += 5;
                    Token::Bool(false)
                } else if rest.starts_with(b"null") {
                    self.pos += 4;
                    Token::Null
                } else if self.cfg.decode_invalid_numbers != 0 && self.is_invalid_number() {
                    self.number_token()
                } else {
                    Token::Error("invalid token")
                }
            }
            _ => Token::Error("invalid token"),
        };
        // Errors are reported where scanning stopped.
        let at = if matches!(tok, Token::Error(_)) {
            self.pos
        } else {
            start
        };
        (tok, at)
    }

    fn unexpected(&self, expected: &str, tok: &Token, at: usize) -> Fail {
        Fail::error(format!(
            "Expected {expected} but found {} at character {}",
            tok.describe(),
            at + 1
        ))
    }

    /// Enters an object or array needing `slots` Lua stack slots above `top`.
    fn descend(&mut self, top: usize, slots: usize) -> Result<(), Fail> {
        self.depth += 1;
        if self.depth <= self.cfg.decode_max_depth && top + slots <= super::MAX_C_STACK {
            return Ok(());
        }
        Err(Fail::error(format!(
            "Found too many nested data structures ({}) at character {}",
            self.depth, self.pos
        )))
    }

    /// The value starting with `tok`; `top` is the height of the original's Lua stack before
    /// the value is pushed.
    fn value(&mut self, tok: Token, at: usize, top: usize) -> Result<Json, Fail> {
        Ok(match tok {
            Token::Str(s) => Json::Str(s),
            Token::Num(n) => Json::Num(n),
            Token::Bool(b) => Json::Bool(b),
            Token::Null => Json::Null,
            Token::ObjBegin => self.object(top)?,
            Token::ArrBegin => self.array(top)?,
            other => return Err(self.unexpected("value", &other, at)),
        })
    }

    fn object(&mut self, top: usize) -> Result<Json, Fail> {
        self.descend(top, 3)?;
        let mut pairs = Vec::new();
        let (mut tok, mut at) = self.next_token();
        if matches!(tok, Token::ObjEnd) {
            self.depth -= 1;
            return Ok(Json::Object(pairs));
        }
        loop {
            let Token::Str(key) = tok else {
                return Err(self.unexpected("object key string", &tok, at));
            };
            let (t, a) = self.next_token();
            if !matches!(t, Token::Colon) {
                return Err(self.unexpected("colon", &t, a));
            }
            let (t, a) = self.next_token();
            let v = self.value(t, a, top + 2)?;
            pairs.push((key, v));
            let (t, a) = self.next_token();
            match t {
                Token::ObjEnd => {
                    self.depth -= 1;
                    return Ok(Json::Object(pairs));
                }
                Token::Comma => {}
                other => return Err(self.unexpected("comma or object end", &other, a)),
            }
            (tok, at) = self.next_token();
        }
    }

    fn array(&mut self, top: usize) -> Result<Json, Fail> {
        self.descend(top, 2)?;
        let mut items = Vec::new();
        let (mut tok, mut at) = self.next_token();
        if matches!(tok, Token::ArrEnd) {
            self.depth -= 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(tok, at, top + 1)?);
            let (t, a) = self.next_token();
            match t {
                Token::ArrEnd => {
                    self.depth -= 1;
                    return Ok(Json::Array(items));
                }
                Token::Comma => {}
                other => return Err(self.unexpected("comma or array end", &other, a)),
            }
            (tok, at) = self.next_token();
        }
    }
}

/// Pushes a decoded value (in protected code: only references are held).
unsafe fn push_json(l: *mut lua_State, v: &Json) {
    unsafe {
        ffi::lua_checkstack(l, 3);
        match v {
            Json::Null => ffi::lua_pushlightuserdata(l, std::ptr::null_mut::<c_void>()),
            Json::Bool(b) => ffi::lua_pushboolean(l, c_int::from(*b)),
            Json::Num(n) => ffi::lua_pushnumber(l, *n),
            Json::Str(s) => push_bytes(l, s),
            Json::Array(items) => {
                ffi::lua_createtable(l, 0, 0);
                for (i, it) in items.iter().enumerate() {
                    push_json(l, it);
                    ffi::lua_rawseti_(l, -2, (i + 1) as c_int);
                }
            }
            Json::Object(pairs) => {
                ffi::lua_createtable(l, 0, 0);
                for (k, v) in pairs {
                    push_bytes(l, k);
                    push_json(l, v);
                    ffi::lua_rawset(l, -3);
                }
            }
        }
    }
}

/// `cjson.decode(text)`.
unsafe extern "C-unwind" fn decode(l: *mut lua_State) -> c_int {
    unsafe {
        if ffi::lua_gettop(l) != 1 {
            ffi::luaL_argerror(l, 1, c"expected 1 argument".as_ptr());
        }
        let cfg = *config(l);
        let mut len = 0usize;
        let p = ffi::luaL_checklstring(l, 1, &mut len);
        let data = std::slice::from_raw_parts(p.cast::<u8>(), len);
        if len >= 2 && (data[0] == 0 || data[1] == 0) {
            ffi::luaL_error(l, c"JSON parser does not support UTF-16 or UTF-32".as_ptr());
        }
        guard(l, || {
            let mut p = Parser {
                data,
                pos: 0,
                cfg,
                depth: 0,
            };
            let (tok, at) = p.next_token();
            let v = p.value(tok, at, 1)?;
            let (tok, at) = p.next_token();
            if !matches!(tok, Token::End) {
                return Err(p.unexpected("the end", &tok, at));
            }
            protected(l, |l| {
                push_json(l, &v);
                1
            })
        })
    }
}

// ===== Module =====

const FUNCS: &[(&CStr, lua_CFunction)] = &[
    (c"encode", encode),
    (c"decode", decode),
    (c"encode_sparse_array", cfg_encode_sparse_array),
    (c"encode_max_depth", cfg_encode_max_depth),
    (c"decode_max_depth", cfg_decode_max_depth),
    (c"encode_number_precision", cfg_encode_number_precision),
    (c"encode_keep_buffer", cfg_encode_keep_buffer),
    (c"encode_invalid_numbers", cfg_encode_invalid_numbers),
    (c"decode_invalid_numbers", cfg_decode_invalid_numbers),
    (c"new", new_module),
];

/// Pushes a new cjson module table with its own settings; `tramp` is the absolute index of
/// the trampoline function.
unsafe fn push_module(l: *mut lua_State, tramp: c_int) {
    unsafe {
        ffi::lua_createtable(l, 0, FUNCS.len() as c_int + 3);
        let t = ffi::lua_gettop(l);
        let cfg = ffi::lua_newuserdata(l, std::mem::size_of::<Config>()).cast::<Config>();
        cfg.write(DEFAULTS);
        set_functions(l, t, tramp, Some(t + 1), FUNCS);
        ffi::lua_settop(l, t);
        ffi::lua_pushlightuserdata(l, std::ptr::null_mut::<c_void>());
        ffi::lua_setfield(l, t, c"null".as_ptr());
        ffi::lua_pushstring_(l, c"cjson".as_ptr());
        ffi::lua_setfield(l, t, c"_NAME".as_ptr());
        ffi::lua_pushstring_(l, c"2.1.0".as_ptr());
        ffi::lua_setfield(l, t, c"_VERSION".as_ptr());
    }
}

/// `cjson.new()`: another module table, with default settings of its own.
unsafe extern "C-unwind" fn new_module(l: *mut lua_State) -> c_int {
    unsafe {
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
        let tramp = ffi::lua_gettop(l);
        push_module(l, tramp);
        1
    }
}

/// Creates the global `cjson` table.
pub fn open(lua: &mlua::Lua) -> mlua::Result<()> {
    let table: mlua::Table = unsafe {
        lua.exec_raw((), |l| {
            push_trampoline(l);
            let tramp = ffi::lua_gettop(l);
            push_module(l, tramp);
            ffi::lua_remove(l, tramp);
        })?
    };
    lua.globals().set("cjson", table)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{eval, lua};

    /// Each snippet runs as `pcall(function() <snippet> end)`; the expected answers,
    /// `OK:` or `ERR:` then `tostring` of the result or error, are what redis-server 7.0.15
    /// returned for the same script (`EVAL ... 0`).
    const CASES: &[(&str, &[u8])] = &[
        ("return cjson.encode({1,2,{a=1}, 'a/b', 1.5, 1e-17, -0.0, 0.1})", b"OK:[1,2,{\"a\":1},\"a\\/b\",1.5,1e-17,-0,0.1]"),
        ("return cjson.encode({})", b"OK:{}"),
        ("return cjson.encode({[1e300]=1})", b"OK:{\"1e+300\":1}"),
        ("return cjson.encode({[2^31]=1})", b"OK:{\"2147483648\":1}"),
        ("return cjson.encode({1, nil, 3})", b"OK:[1,null,3]"),
        ("return cjson.encode('\\1\\8\\9\\10\\11\\12\\13\\31\"\\\\\\127\\200')", b"OK:\"\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\\\"\\\\\\u007f\xc8\""),
        ("return cjson.encode(1/3)", b"OK:0.33333333333333"),
        ("return cjson.encode(123456789012345678)", b"OK:1.2345678901235e+17"),
        ("return cjson.encode(nil)", b"OK:null"),
        ("return cjson.encode(cjson.null)", b"OK:null"),
        ("return cjson.encode({[1]=1, [3]=3})", b"OK:[1,null,3]"),
        ("return cjson.encode({[1]=1, [11]=2})", b"ERR:user_script:1: Cannot serialise table: excessively sparse array"),
        ("return cjson.encode({[-1]=2})", b"OK:{\"-1\":2}"),
        ("return cjson.encode({[1.5]=2})", b"OK:{\"1.5\":2}"),
        ("return cjson.encode({[0]=2})", b"OK:{\"0\":2}"),
        ("return cjson.encode({[true]=2})", b"ERR:user_script:1: Cannot serialise boolean: table key must be a number or string"),
        ("return cjson.encode(function() end)", b"ERR:user_script:1: Cannot serialise function: type not supported"),
        ("return cjson.encode({1/0})", b"ERR:user_script:1: Cannot serialise number: must not be NaN or Inf"),
        ("return cjson.encode({0/0})", b"ERR:user_script:1: Cannot serialise number: must not be NaN or Inf"),
        ("return cjson.encode()", b"ERR:user_script:1: bad argument #1 to 'encode' (expected 1 argument)"),
        ("return cjson.encode(1, 2)", b"ERR:user_script:1: bad argument #1 to 'encode' (expected 1 argument)"),
        ("return (function() local t = {} t[1] = t return cjson.encode(t) end)()", b"ERR:user_script:1: Cannot serialise, excessive nesting (1001)"),
        ("return (function() local t = {} local c = t for i = 1, 999 do c[1] = {} c = c[1] end return #cjson.encode(t) end)()", b"OK:2000"),
        ("return (function() local t = {} local c = t for i = 1, 1000 do c[1] = {} c = c[1] end return cjson.encode(t) end)()", b"ERR:user_script:1: Cannot serialise, excessive nesting (1001)"),
        ("return (function() local c = cjson.new() c.encode_sparse_array(true) return c.encode({[1]=1, [20]=2}) end)()", b"OK:{\"1\":1,\"20\":2}"),
        ("return (function() local c = cjson.new() c.encode_invalid_numbers(true) return c.encode({1/0, -1/0, 0/0}) end)()", b"OK:[inf,-inf,nan]"),
        ("return (function() local c = cjson.new() c.encode_invalid_numbers('null') return c.encode({1/0, 0/0}) end)()", b"OK:[null,null]"),
        ("return (function() local c = cjson.new() c.encode_number_precision(3) return c.encode({math.pi, 12345}) end)()", b"OK:[3.14,1.23e+04]"),
        ("return (function() local c = cjson.new() return table.concat({tostring(c.encode_sparse_array()), tostring(select(2, c.encode_sparse_array())), tostring(select(3, c.encode_sparse_array()))}, ',') end)()", b"OK:false,2,10"),
        ("return (function() local c = cjson.new() return tostring(c.encode_invalid_numbers('null')) end)()", b"OK:null"),
        ("return (function() local c = cjson.new() return tostring(c.encode_keep_buffer(false)) .. tostring(c.decode_invalid_numbers()) .. tostring(c.encode_max_depth()) .. tostring(c.decode_max_depth(5)) end)()", b"OK:falsetrue10005"),
        ("return cjson.encode_number_precision(15)", b"ERR:user_script:1: bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)"),
        ("return cjson.encode_number_precision(0)", b"ERR:user_script:1: bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)"),
        ("return cjson.encode_sparse_array(1, -1)", b"ERR:user_script:1: bad argument #1 to 'encode_sparse_array' (invalid option '1')"),
        ("return cjson.encode_sparse_array(1, 2, 3, 4)", b"ERR:user_script:1: bad argument #4 to 'encode_sparse_array' (found too many arguments)"),
        ("return cjson.encode_invalid_numbers('maybe')", b"ERR:user_script:1: bad argument #1 to 'encode_invalid_numbers' (invalid option 'maybe')"),
        ("return cjson.encode_max_depth('x')", b"ERR:user_script:1: bad argument #1 to 'encode_max_depth' (number expected, got string)"),
        ("return cjson._NAME .. cjson._VERSION", b"OK:cjson2.1.0"),
        ("return cjson.decode('[1,2,3]')[3]", b"OK:3"),
        ("return cjson.decode('{\"a\":{\"b\":[true]}}').a.b[1]", b"OK:true"),
        ("return cjson.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\"')", b"OK:\xc3\xa9\xf0\x9f\x98\x80"),
        ("return cjson.decode('null') == cjson.null", b"OK:true"),
        ("return cjson.decode(' 1e2 ')", b"OK:100"),
        ("return cjson.decode('0x10')", b"OK:16"),
        ("return cjson.decode('-Infinity')", b"OK:-inf"),
        ("return cjson.decode('[1,2]\\0garbage')[2]", b"OK:2"),
        ("return cjson.decode('\"a\\\\/b\\\\tc\"')", b"OK:a/b\x09c"),
        ("return cjson.decode('x')", b"ERR:user_script:1: Expected value but found invalid token at character 1"),
        ("return cjson.decode('')", b"ERR:user_script:1: Expected value but found T_END at character 1"),
        ("return cjson.decode('[1,2')", b"ERR:user_script:1: Expected comma or array end but found T_END at character 5"),
        ("return cjson.decode('[1 2]')", b"ERR:user_script:1: Expected comma or array end but found T_NUMBER at character 4"),
        ("return cjson.decode('{\"a\" 1}')", b"ERR:user_script:1: Expected colon but found T_NUMBER at character 6"),
        ("return cjson.decode('{1:2}')", b"ERR:user_script:1: Expected object key string but found T_NUMBER at character 2"),
        ("return cjson.decode('{\"a\":1,}')", b"ERR:user_script:1: Expected object key string but found T_OBJ_END at character 8"),
        ("return cjson.decode('\"abc')", b"ERR:user_script:1: Expected value but found unexpected end of string at character 5"),
        ("return cjson.decode('\"a\\\\qb\"')", b"ERR:user_script:1: Expected value but found invalid escape code at character 3"),
        ("return cjson.decode('\"\\\\ud800\"')", b"ERR:user_script:1: Expected value but found invalid unicode escape code at character 2"),
        ("return cjson.decode('\"\\\\udc00\"')", b"ERR:user_script:1: Expected value but found invalid unicode escape code at character 2"),
        ("return cjson.decode('\"\\\\u12\"')", b"ERR:user_script:1: Expected value but found invalid unicode escape code at character 2"),
        ("return cjson.decode('[1] x')", b"ERR:user_script:1: Expected the end but found invalid token at character 5"),
        ("return cjson.decode('tru')", b"ERR:user_script:1: Expected value but found invalid token at character 1"),
        ("return cjson.decode('-')", b"ERR:user_script:1: Expected value but found invalid number at character 1"),
        ("return cjson.decode('+1')", b"OK:1"),
        ("return cjson.decode('nan')", b"OK:nan"),
        ("return cjson.decode('01')", b"OK:1"),
        ("return cjson.decode('.5')", b"ERR:user_script:1: Expected value but found invalid token at character 1"),
        ("return cjson.decode('1.5e')", b"ERR:user_script:1: Expected the end but found invalid token at character 4"),
        ("return cjson.decode('a\\0b')", b"ERR:user_script:1: JSON parser does not support UTF-16 or UTF-32"),
        ("return cjson.decode(123)", b"OK:123"),
        ("return cjson.decode()", b"ERR:user_script:1: bad argument #1 to 'decode' (expected 1 argument)"),
        ("return cjson.decode({})", b"ERR:user_script:1: bad argument #1 to 'decode' (string expected, got table)"),
        ("return cjson.decode(string.rep('[', 1001))", b"ERR:user_script:1: Found too many nested data structures (1001) at character 1001"),
        ("return cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000)) and 'ok'", b"OK:ok"),
        ("return (function() local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('0x10') end)()", b"ERR:user_script:1: Expected value but found invalid number at character 1"),
        ("return (function() local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('Infinity') end)()", b"ERR:user_script:1: Expected value but found invalid token at character 1"),
        ("return (function() local c = cjson.new() c.decode_max_depth(2) return c.decode('[[[1]]]') end)()", b"ERR:user_script:1: Found too many nested data structures (3) at character 3"),
        ("return (function() local c = cjson.new() c.decode_max_depth(2) return c.decode('{\"a\":{\"b\":{}}}') end)()", b"ERR:user_script:1: Found too many nested data structures (3) at character 11"),
        ("return cjson.decode('nan(123)') ~= cjson.decode('nan(123)')", b"OK:true"),
        ("return cjson.encode(cjson.decode('{\"b\":1,\"a\":2,\"c\":[1,2,{\"d\":null}]}'))", b"OK:{\"a\":2,\"c\":[1,2,{\"d\":null}],\"b\":1}"),
        ("return cjson.encode(cjson.decode('[1e400, -1e-400, 1.7976931348623157e308, 5e-324]'))", b"ERR:user_script:1: Cannot serialise number: must not be NaN or Inf"),
        ("return cjson.decode('\"\\t\"')", b"OK:\x09"),
        ("return cjson.decode('\"\\\\uD834\\\\uDD1E\"')", b"OK:\xf0\x9d\x84\x9e"),
        ("return cjson.encode({[10]=1})", b"OK:[null,null,null,null,null,null,null,null,null,1]"),
        ("return cjson.encode({[1]=1, [2]=2, [3]=3, [4]=4, [30]=5})", b"ERR:user_script:1: Cannot serialise table: excessively sparse array"),
    ];

    #[test]
    fn matches_redis() {
        let lua = lua();
        for (code, want) in CASES {
            let wrapped = format!(
                "local ok, r = pcall(function() {code} end) \
                 if ok then return 'OK:' .. tostring(r) else return 'ERR:' .. tostring(r) end"
            );
            let got = eval(&lua, &wrapped);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want),
                "{code}"
            );
            assert_eq!(got, *want, "{code}");
        }
    }

    #[test]
    fn null_is_a_null_light_userdata() {
        let lua = lua();
        let v: mlua::Value = lua.load("return cjson.decode('[null]')[1]").eval().unwrap();
        assert!(matches!(v, mlua::Value::LightUserData(p) if p.0.is_null()));
    }
}
