//! `cmsgpack`: lua-cmsgpack 0.4.0 (Salvatore Sanfilippo), as Redis 7.0 bundles it.
//!
//! Encoding choices follow the original exactly:
//! * a number that converts to int64 and back unchanged is an integer, in the smallest of
//!   positive fixint, uint8/16/32/64, negative fixint, int8/16/32/64; any other number is a
//!   float32 when converting to float32 and back keeps it (so infinities are float32), else
//!   a float64;
//! * strings are fixstr / str8 / str16 / str32 (0xd9 / 0xda / 0xdb; there is no bin type);
//! * a table whose keys are exactly the integers 1..n is an array (the empty table too),
//!   any other table a map, in `next` order;
//! * tables nested 16 deep, and values of other types (functions, `cjson.null`, ...), are nil.
//!
//! Decoding reads the same formats (bin and ext types are "Bad data format"), integers and
//! floats becoming Lua numbers (uint64 goes through a signed 64-bit integer, as the original
//! does on 64-bit builds).

use std::ffi::c_int;

use mlua::ffi::{self, lua_CFunction, lua_State};

use super::{Fail, c_to_i32, c_to_i64, guard, protected, push_bytes};

/// Tables nested this deep are encoded as nil, so that cyclic tables end.
const MAX_NESTING: u32 = 16;

fn encode_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        buf.push(0xa0 | len as u8);
    } else if len <= 0xff {
        buf.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        buf.push(0xda);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdb);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
    buf.extend_from_slice(s);
}

fn encode_double(buf: &mut Vec<u8>, d: f64) {
    let f = d as f32;
    if d == f64::from(f) {
        buf.push(0xca);
        buf.extend_from_slice(&f.to_be_bytes());
    } else {
        buf.push(0xcb);
        buf.extend_from_slice(&d.to_be_bytes());
    }
}

fn encode_int(buf: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            buf.push(n as u8);
        } else if n <= 0xff {
            buf.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            buf.push(0xcd);
            buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            buf.push(0xce);
            buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            buf.push(0xcf);
            buf.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        buf.push(n as i8 as u8);
    } else if n >= -128 {
        buf.extend_from_slice(&[0xd0, n as u8]);
    } else if n >= -32768 {
        buf.push(0xd1);
        buf.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2147483648 {
        buf.push(0xd2);
        buf.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

/// Array (0x90 / 0xdc / 0xdd) or map (0x80 / 0xde / 0xdf) header.
fn encode_header(buf: &mut Vec<u8>, n: usize, fix: u8, b16: u8, b32: u8) {
    if n <= 15 {
        buf.push(fix | n as u8);
    } else if n <= 0xffff {
        buf.push(b16);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        buf.push(b32);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Whether the table on top of the stack has exactly the keys 1..n: all keys positive
/// numbers equal to their C `int` conversion, the largest equal to the count.
unsafe fn table_is_an_array(l: *mut lua_State) -> bool {
    unsafe {
        let top = ffi::lua_gettop(l);
        let (mut count, mut max) = (0i32, 0i32);
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            ffi::lua_settop(l, -2);
            let n = ffi::lua_tonumber(l, -1);
            if ffi::lua_type(l, -1) != ffi::LUA_TNUMBER
                || n <= 0.0
                || n.is_infinite()
                || f64::from(c_to_i32(n)) != n
            {
                ffi::lua_settop(l, top);
                return false;
            }
            if n > f64::from(max) {
                max = c_to_i32(n);
            }
            count = count.wrapping_add(1);
        }
        ffi::lua_settop(l, top);
        max == count
    }
}

/// Encodes the value on top of the stack and pops it. Only growing the stack can raise
/// (when out of memory).
unsafe fn encode_value(l: *mut lua_State, buf: &mut Vec<u8>, level: u32) {
    unsafe {
        let mut t = ffi::lua_type(l, -1);
        if t == ffi::LUA_TTABLE && level == MAX_NESTING {
            t = ffi::LUA_TNIL;
        }
        match t {
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                let p = ffi::lua_tolstring(l, -1, &mut len);
                encode_bytes(buf, std::slice::from_raw_parts(p.cast::<u8>(), len));
            }
            ffi::LUA_TBOOLEAN => buf.push(if ffi::lua_toboolean(l, -1) != 0 {
                0xc3
            } else {
                0xc2
            }),
            ffi::LUA_TNUMBER => {
                let n = ffi::lua_tonumber(l, -1);
                let i = c_to_i64(n);
                if !n.is_infinite() && i as f64 == n {
                    encode_int(buf, i);
                } else {
                    encode_double(buf, n);
                }
            }
            ffi::LUA_TTABLE => {
                ffi::lua_checkstack(l, 3);
                if table_is_an_array(l) {
                    let len = ffi::lua_objlen(l, -1);
                    encode_header(buf, len, 0x90, 0xdc, 0xdd);
                    for j in 1..=len {
                        ffi::lua_rawgeti_(l, -1, j as c_int);
                        encode_value(l, buf, level + 1);
                    }
                } else {
                    let mut len = 0usize;
                    ffi::lua_pushnil(l);
                    while ffi::lua_next(l, -2) != 0 {
                        ffi::lua_settop(l, -2);
                        len += 1;
                    }
                    encode_header(buf, len, 0x80, 0xde, 0xdf);
                    ffi::lua_pushnil(l);
                    while ffi::lua_next(l, -2) != 0 {
                        ffi::lua_pushvalue(l, -2);
                        encode_value(l, buf, level + 1);
                        encode_value(l, buf, level + 1);
                    }
                }
            }
            _ => buf.push(0xc0),
        }
        ffi::lua_settop(l, -2);
    }
}

/// `cmsgpack.pack(...)`: the encodings of all arguments, concatenated.
unsafe extern "C-unwind" fn pack(l: *mut lua_State) -> c_int {
    unsafe {
        let nargs = ffi::lua_gettop(l);
        if nargs == 0 {
            ffi::luaL_argerror(l, 0, c"MessagePack pack needs input.".as_ptr());
        }
        if ffi::lua_checkstack(l, nargs) == 0 {
            ffi::luaL_argerror(l, 0, c"Too many arguments for MessagePack pack.".as_ptr());
        }
        guard(l, || {
            let mut buf = Vec::new();
            for i in 1..=nargs {
                ffi::lua_pushvalue(l, i);
                encode_value(l, &mut buf, 0);
            }
            protected(l, |l| {
                push_bytes(l, &buf);
                1
            })
        })
    }
}

/// A decoded value, built in Rust before anything is pushed.
enum Value<'a> {
    Nil,
    Bool(bool),
    Num(f64),
    Str(&'a [u8]),
    Array(Vec<Value<'a>>),
    Map(Vec<(Value<'a>, Value<'a>)>),
}

enum DecodeError {
    /// Not enough bytes.
    Eof,
    /// An unknown type byte.
    BadFormat,
    /// Any other error, raised as is.
    Fail(Fail),
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.left() < n {
            Err(DecodeError::Eof)
        } else {
            Ok(())
        }
    }

    /// `n` bytes after the type byte (which the caller checked with `need`).
    fn bytes(&self, from: usize, n: usize) -> &'a [u8] {
        &self.data[self.pos + from..self.pos + from + n]
    }

    fn be(&self, from: usize, n: usize) -> u64 {
        self.bytes(from, n)
            .iter()
            .fold(0, |a, &b| (a << 8) | u64::from(b))
    }

    /// Decodes one value; `top` is the height the original's Lua stack would have before
    /// it is pushed, to report its stack overflows where it does.
    fn decode(&mut self, top: usize) -> Result<Value<'a>, DecodeError> {
        self.need(1)?;
        if top + 1 > super::MAX_C_STACK {
            return Err(DecodeError::Fail(Fail::error(
                "stack overflow (too many return values at once; \
                 use unpack_one or unpack_limit instead.)",
            )));
        }
        let b = self.data[self.pos];
        let fixed = |c: &mut Self, size: usize| -> Result<u64, DecodeError> {
            c.need(1 + size)?;
            let v = c.be(1, size);
            c.pos += 1 + size;
            Ok(v)
        };
        let v = match b {
            0xcc => Value::Num(fixed(self, 1)? as f64),
            0xcd => Value::Num(fixed(self, 2)? as f64),
            0xce => Value::Num(fixed(self, 4)? as f64),
            0xcf => Value::Num(fixed(self, 8)? as i64 as f64),
            0xd0 => Value::Num(f64::from(fixed(self, 1)? as u8 as i8)),
            0xd1 => Value::Num(f64::from(fixed(self, 2)? as u16 as i16)),
            0xd2 => Value::Num(f64::from(fixed(self, 4)? as u32 as i32)),
            0xd3 => Value::Num(fixed(self, 8)? as i64 as f64),
            0xc0 => {
                self.pos += 1;
                Value::Nil
            }
            0xc2 | 0xc3 => {
                self.pos += 1;
                Value::Bool(b == 0xc3)
            }
            0xca => Value::Num(f64::from(f32::from_bits(fixed(self, 4)? as u32))),
            0xcb => Value::Num(f64::from_bits(fixed(self, 8)?)),
            0xd9..=0xdb => {
                let size = match b {
                    0xd9 => 1,
                    0xda => 2,
                    _ => 4,
                };
                let len = fixed(self, size)? as usize;
                self.need(len)?;
                let s = self.bytes(0, len);
                self.pos += len;
                Value::Str(s)
            }
            0xdc | 0xdd => {
                let len = fixed(self, if b == 0xdc { 2 } else { 4 })? as usize;
                self.array(len, top)?
            }
            0xde | 0xdf => {
                let len = fixed(self, if b == 0xde { 2 } else { 4 })? as usize;
                self.map(len, top)?
            }
            _ if b & 0x80 == 0 => {
                self.pos += 1;
                Value::Num(f64::from(b))
            }
            _ if b & 0xe0 == 0xe0 => {
                self.pos += 1;
                Value::Num(f64::from(b as i8))
            }
            _ if b & 0xe0 == 0xa0 => {
                let len = usize::from(b & 0x1f);
                self.need(1 + len)?;
                let s = self.bytes(1, len);
                self.pos += 1 + len;
                Value::Str(s)
            }
            _ if b & 0xf0 == 0x90 => {
                self.pos += 1;
                self.array(usize::from(b & 0xf), top)?
            }
            _ if b & 0xf0 == 0x80 => {
                self.pos += 1;
                self.map(usize::from(b & 0xf), top)?
            }
            _ => return Err(DecodeError::BadFormat),
        };
        Ok(v)
    }

    fn array(&mut self, len: usize, top: usize) -> Result<Value<'a>, DecodeError> {
        // The new table is at top + 1; the original then checks for one more slot.
        if top + 2 > super::MAX_C_STACK {
            return Err(DecodeError::Fail(Fail::error(
                "stack overflow (in function mp_decode_to_lua_array)",
            )));
        }
        let mut items = Vec::with_capacity(len.min(self.left()));
        for _ in 0..len {
            // Index, then the value, above the table.
            items.push(self.decode(top + 2)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: usize, top: usize) -> Result<Value<'a>, DecodeError> {
        let mut pairs = Vec::with_capacity(len.min(self.left() / 2));
        for _ in 0..len {
            let k = self.decode(top + 1)?;
            let v = self.decode(top + 2)?;
            match k {
                Value::Nil => {
                    return Err(DecodeError::Fail(Fail::Plain("table index is nil".into())));
                }
                Value::Num(n) if n.is_nan() => {
                    return Err(DecodeError::Fail(Fail::Plain("table index is NaN".into())));
                }
                _ => {}
            }
            pairs.push((k, v));
        }
        Ok(Value::Map(pairs))
    }
}

/// Pushes a decoded value (in protected code: only references are held).
unsafe fn push_value(l: *mut lua_State, v: &Value) {
    unsafe {
        ffi::lua_checkstack(l, 3);
        match v {
            Value::Nil => ffi::lua_pushnil(l),
            Value::Bool(b) => ffi::lua_pushboolean(l, c_int::from(*b)),
            Value::Num(n) => ffi::lua_pushnumber(l, *n),
            Value::Str(s) => push_bytes(l, s),
            Value::Array(items) => {
                ffi::lua_createtable(l, 0, 0);
                for (i, it) in items.iter().enumerate() {
                    ffi::lua_pushnumber(l, (i + 1) as f64);
                    push_value(l, it);
                    ffi::lua_rawset(l, -3);
                }
            }
            Value::Map(pairs) => {
                ffi::lua_createtable(l, 0, 0);
                for (k, v) in pairs {
                    push_value(l, k);
                    push_value(l, v);
                    ffi::lua_rawset(l, -3);
                }
            }
        }
    }
}

/// Decodes up to `limit` values from byte `offset` of argument 1 (all of them when both
/// are 0); unless decoding all, the first result is the offset of the rest (-1 at the end).
unsafe fn unpack_full(l: *mut lua_State, limit: i64, offset: i64) -> c_int {
    unsafe {
        let mut len = 0usize;
        let p = ffi::luaL_checklstring(l, 1, &mut len);
        let data = std::slice::from_raw_parts(p.cast::<u8>(), len);
        guard(l, || {
            if offset < 0 || limit < 0 {
                return Err(Fail::error(format!(
                    "Invalid request to unpack with offset of {} and limit of {}.",
                    offset as i32, len as i32
                )));
            }
            if offset as u64 > len as u64 {
                return Err(Fail::error(format!(
                    "Start offset {} greater than input length {}.",
                    offset as i32, len as i32
                )));
            }
            let decode_all = limit == 0 && offset == 0;
            let limit = if decode_all {
                i64::from(i32::MAX)
            } else {
                limit
            };
            let mut c = Cursor {
                data,
                pos: offset as usize,
            };
            let top = ffi::lua_gettop(l) as usize;
            let mut values = Vec::new();
            while c.left() > 0 && (values.len() as i64) < limit {
                match c.decode(top + values.len()) {
                    Ok(v) => values.push(v),
                    Err(DecodeError::Eof) => return Err(Fail::error("Missing bytes in input.")),
                    Err(DecodeError::BadFormat) => {
                        return Err(Fail::error("Bad data format in input."));
                    }
                    Err(DecodeError::Fail(f)) => return Err(f),
                }
            }
            let next = if c.left() == 0 { -1 } else { c.pos as i64 };
            protected(l, |l| {
                ffi::lua_checkstack(l, values.len() as c_int + 1);
                if !decode_all {
                    ffi::lua_pushinteger(l, next);
                }
                for v in &values {
                    push_value(l, v);
                }
                values.len() as c_int + c_int::from(!decode_all)
            })
        })
    }
}

/// `cmsgpack.unpack(data)`: every value in `data`.
unsafe extern "C-unwind" fn unpack(l: *mut lua_State) -> c_int {
    unsafe { unpack_full(l, 0, 0) }
}

/// `cmsgpack.unpack_one(data [, offset])`: next offset, one value.
unsafe extern "C-unwind" fn unpack_one(l: *mut lua_State) -> c_int {
    unsafe {
        let offset = ffi::luaL_optinteger(l, 2, 0);
        ffi::lua_settop(l, ffi::lua_gettop(l).min(1));
        unpack_full(l, 1, offset)
    }
}

/// `cmsgpack.unpack_limit(data, limit [, offset])`: next offset, up to `limit` values.
unsafe extern "C-unwind" fn unpack_limit(l: *mut lua_State) -> c_int {
    unsafe {
        let limit = ffi::luaL_checkinteger(l, 2);
        let offset = ffi::luaL_optinteger(l, 3, 0);
        ffi::lua_settop(l, ffi::lua_gettop(l).min(1));
        unpack_full(l, limit, offset)
    }
}

const FUNCS: &[(&std::ffi::CStr, lua_CFunction)] = &[
    (c"pack", pack),
    (c"unpack", unpack),
    (c"unpack_one", unpack_one),
    (c"unpack_limit", unpack_limit),
];

/// Creates the global `cmsgpack` table.
pub fn open(lua: &mlua::Lua) -> mlua::Result<()> {
    super::open_simple(
        lua,
        "cmsgpack",
        FUNCS,
        &[
            ("_NAME", "cmsgpack"),
            ("_VERSION", "lua-cmsgpack 0.4.0"),
            ("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo"),
            ("_DESCRIPTION", "MessagePack C implementation for Lua"),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{err, eval, eval_str, lua};

    fn hex(lua: &mlua::Lua, expr: &str) -> String {
        let b = eval(lua, &format!("return {expr}"));
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Expected bytes were produced by redis-server 7.0.15.
    #[test]
    fn pack_matches_redis() {
        let lua = lua();
        let cases: &[(&str, &str)] = &[
            (
                "cmsgpack.pack(1, -1, 127, 128, -32, -33)",
                "01ff7fcc80e0d0df",
            ),
            (
                "cmsgpack.pack(65535, 65536, -32769)",
                "cdffffce00010000d2ffff7fff",
            ),
            (
                "cmsgpack.pack(2^32, -2^31 - 1)",
                "cf0000000100000000d3ffffffff7fffffff",
            ),
            (
                "cmsgpack.pack(1.5, 0.1, 1/0, -0.0)",
                "ca3fc00000cb3fb999999999999aca7f80000000",
            ),
            ("cmsgpack.pack(2^63, -2^63)", "ca5f000000d38000000000000000"),
            (
                "cmsgpack.pack('', 'abc', string.rep('x', 32))",
                "a0a3616263d9207878787878787878787878787878787878787878787878787878787878787878",
            ),
            ("cmsgpack.pack(true, false, nil)", "c3c2c0"),
            ("cmsgpack.pack({}, {1, 2}, {[2] = 1})", "90920102810201"),
            ("cmsgpack.pack({a = 1})", "81a16101"),
            ("cmsgpack.pack({1, nil, 3})", "8201010303"),
            ("cmsgpack.pack(type, cjson.null)", "c0c0"),
            ("cmsgpack.pack(0/0)", "cbfff8000000000000"),
            ("cmsgpack.pack(string.rep('y', 256)):sub(1, 3)", "da0100"),
        ];
        for (code, want) in cases {
            let want: String = want.split_whitespace().collect();
            assert_eq!(hex(&lua, code), want, "{code}");
        }
    }

    #[test]
    fn nesting_is_cut_at_16() {
        let lua = lua();
        assert_eq!(
            hex(
                &lua,
                "(function() local t = {} t[1] = t return cmsgpack.pack(t) end)()"
            ),
            format!("{}c0", "91".repeat(16))
        );
    }

    /// Expected values were produced by redis-server 7.0.15.
    #[test]
    fn unpack_matches_redis() {
        let lua = lua();
        let cases: &[(&str, &str)] = &[
            (
                "return select('#', cmsgpack.unpack(cmsgpack.pack(1, 2, 3)))",
                "3",
            ),
            (
                "return table.concat({cmsgpack.unpack(cmsgpack.pack(-5, 300, 2^40, 0.25))}, ',')",
                "-5,300,1099511627776,0.25",
            ),
            (
                "return cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255')",
                "-1",
            ),
            (
                "return cmsgpack.unpack(cmsgpack.pack({a = {1, 2, {b = 'c'}}})).a[3].b",
                "c",
            ),
            (
                "return table.concat({cmsgpack.unpack_one(cmsgpack.pack(7, 8, 9), 1)}, ',')",
                "2,8",
            ),
            (
                "return table.concat({cmsgpack.unpack_one(cmsgpack.pack(7, 8, 9), 2)}, ',')",
                "-1,9",
            ),
            (
                "return table.concat({cmsgpack.unpack_limit(cmsgpack.pack(7, 8, 9), 2)}, ',')",
                "2,7,8",
            ),
            (
                "return table.concat({cmsgpack.unpack_limit(cmsgpack.pack(7, 8, 9), 0)}, ',')",
                "7,8,9",
            ),
            ("return select('#', cmsgpack.unpack(''))", "0"),
            ("return #cmsgpack.unpack('\\147\\192\\192\\3')", "0"),
            ("return cmsgpack._VERSION", "lua-cmsgpack 0.4.0"),
            (
                "return select('#', cmsgpack.unpack(string.rep('\\1', 7999)))",
                "7999",
            ),
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
                "return cmsgpack.pack()",
                "user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)",
            ),
            (
                "return cmsgpack.unpack('\\205\\1')",
                "user_script:1: Missing bytes in input.",
            ),
            (
                "return cmsgpack.unpack('\\193')",
                "user_script:1: Bad data format in input.",
            ),
            (
                "return cmsgpack.unpack('\\129\\192\\1')",
                "table index is nil",
            ),
            (
                "return cmsgpack.unpack_one('abc', 10)",
                "user_script:1: Start offset 10 greater than input length 3.",
            ),
            (
                "return cmsgpack.unpack_one('abc', -1)",
                "user_script:1: Invalid request to unpack with offset of -1 and limit of 3.",
            ),
            (
                "return cmsgpack.unpack()",
                "user_script:1: bad argument #1 to 'unpack' (string expected, got no value)",
            ),
            (
                "return cmsgpack.unpack_limit('a')",
                "user_script:1: bad argument #2 to 'unpack_limit' (number expected, got no value)",
            ),
            (
                "return cmsgpack.unpack(string.rep('\\1', 8000))",
                "user_script:1: stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)",
            ),
            (
                "local t = {} for i = 1, 4001 do t[i] = 1 end return cmsgpack.pack(unpack(t))",
                "user_script:1: bad argument #0 to 'pack' (Too many arguments for MessagePack pack.)",
            ),
        ];
        for (code, want) in cases {
            assert_eq!(err(&lua, code), *want, "{code}");
        }
    }
}
