//! Conversions between RESP replies and Lua values, by Redis's rules (script_lua.c):
//!
//! * a command's reply to Lua (what `redis.call` returns): integer -> number, bulk ->
//!   string, null bulk or null array -> false, array -> table, status -> `{ok=...}`, error ->
//!   `{err=...}`; in RESP3 also map -> `{map={...}}`, set -> `{set={k=true}}`, null -> nil,
//!   boolean -> boolean, double -> `{double=n}`, big number -> `{big_number=s}`, verbatim ->
//!   `{verbatim_string={format=..., string=...}}`.
//! * a script's result to the caller's reply: string -> bulk, number -> integer
//!   (truncated), boolean -> 1 or null (RESP3 scripts: a boolean), table -> error, status,
//!   double, big number, verbatim, map or set by its field, else an array up to the first
//!   nil; anything else -> null.
//!
//! Both work on the raw Lua stack (mlua's `ffi`): this is the hot path of every script.

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};

use crate::resp::Reply;

/// Pushes `s` as a Lua string.
pub(crate) unsafe fn push_bytes(l: *mut lua_State, s: &[u8]) {
    unsafe { ffi::lua_pushlstring(l, s.as_ptr().cast(), s.len()) };
}

/// With a table and then a value on top of the stack, sets `table[key] = value` and pops
/// the value.
unsafe fn set_field(l: *mut lua_State, key: &[u8]) {
    unsafe {
        push_bytes(l, key);
        ffi::lua_insert(l, -2);
        ffi::lua_rawset(l, -3);
    }
}

/// Pushes the error table `{err="CODE message"}` Redis's luaPushErrorBuff builds: an error
/// given as `-CODE message` keeps its code, one without a leading `-` gets `ERR`; trailing
/// CR and LF are trimmed.
pub(crate) unsafe fn push_error_table(l: *mut lua_State, error: &[u8]) {
    let text = if let Some(rest) = error.strip_prefix(b"-") {
        match rest.iter().position(|&b| b == b' ') {
            Some(sp) => {
                let mut t = rest[..sp].to_vec();
                t.push(b' ');
                t.extend_from_slice(trim_crlf(&rest[sp + 1..]));
                t
            }
            None => {
                let mut t = b"ERR ".to_vec();
                t.extend_from_slice(trim_crlf(rest));
                t
            }
        }
    } else {
        let mut t = b"ERR ".to_vec();
        t.extend_from_slice(trim_crlf(error));
        t
    };
    unsafe {
        ffi::lua_createtable(l, 0, 1);
        push_bytes(l, &text);
        set_field(l, b"err");
    }
}

/// `s` without CR and LF at either end (sdstrim with "\r\n").
fn trim_crlf(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b'\r' && b != b'\n')
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// Reads one RESP line starting at `pos` (after the type byte): its text and the position
/// after its CRLF.
fn line(buf: &[u8], pos: usize) -> (&[u8], usize) {
    let end = buf[pos..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(buf.len(), |p| pos + p);
    (&buf[pos..end], (end + 2).min(buf.len()))
}

fn number(text: &[u8]) -> i64 {
    crate::resp::parse_i64(text).unwrap_or(0)
}

/// Pushes the Lua value of the reply starting at `pos` in `buf` (a reply our own dispatch
/// wrote, so well formed) and returns the position after it. With `l` null, only skips it
/// (attributes, which scripts do not see).
pub(crate) unsafe fn push_reply(l: *mut lua_State, buf: &[u8], pos: usize) -> usize {
    if pos >= buf.len() {
        if !l.is_null() {
            unsafe { ffi::lua_pushnil(l) };
        }
        return pos;
    }
    let t = buf[pos];
    let (text, next) = line(buf, pos + 1);
    unsafe {
        if !l.is_null() {
            ffi::lua_checkstack(l, 4);
        }
        match t {
            b':' => {
                if !l.is_null() {
                    ffi::lua_pushnumber(l, number(text) as f64);
                }
                next
            }
            b'$' if text.first() == Some(&b'-') => {
                if !l.is_null() {
                    ffi::lua_pushboolean(l, 0);
                }
                next
            }
            b'$' => {
                let n = number(text).max(0) as usize;
                let data = &buf[next..(next + n).min(buf.len())];
                if !l.is_null() {
                    push_bytes(l, data);
                }
                next + n + 2
            }
            b'=' => {
                let n = number(text).max(0) as usize;
                let data = &buf[next..(next + n).min(buf.len())];
                if !l.is_null() {
                    let (format, body) = if data.len() >= 4 {
                        (&data[..3], &data[4..])
                    } else {
                        (&b"txt"[..], data)
                    };
                    ffi::lua_createtable(l, 0, 1);
                    ffi::lua_createtable(l, 0, 2);
                    push_bytes(l, body);
                    set_field(l, b"string");
                    push_bytes(l, format);
                    set_field(l, b"format");
                    set_field(l, b"verbatim_string");
                }
                next + n + 2
            }
            b'+' => {
                if !l.is_null() {
                    ffi::lua_createtable(l, 0, 1);
                    push_bytes(l, text);
                    set_field(l, b"ok");
                }
                next
            }
            b'-' => {
                if !l.is_null() {
                    let mut e = b"-".to_vec();
                    e.extend_from_slice(text);
                    push_error_table(l, &e);
                    // Counted already when the command replied.
                    ffi::lua_pushboolean(l, 1);
                    set_field(l, b"ignore_error_stats_update");
                }
                next
            }
            b'*' | b'>' | b'~' if text.first() == Some(&b'-') => {
                if !l.is_null() {
                    ffi::lua_pushboolean(l, 0);
                }
                next
            }
            b'*' | b'>' => {
                let n = number(text).max(0) as usize;
                if !l.is_null() {
                    ffi::lua_createtable(l, n.min(1 << 16) as c_int, 0);
                }
                let mut p = next;
                for i in 0..n {
                    p = push_reply(l, buf, p);
                    if !l.is_null() {
                        ffi::lua_rawseti(l, -2, (i + 1) as ffi::lua_Integer);
                    }
                }
                p
            }
            b'~' => {
                let n = number(text).max(0) as usize;
                if !l.is_null() {
                    ffi::lua_createtable(l, 0, 1);
                    ffi::lua_createtable(l, 0, n.min(1 << 16) as c_int);
                }
                let mut p = next;
                for _ in 0..n {
                    p = push_reply(l, buf, p);
                    if !l.is_null() {
                        ffi::lua_pushboolean(l, 1);
                        ffi::lua_rawset(l, -3);
                    }
                }
                if !l.is_null() {
                    set_field(l, b"set");
                }
                p
            }
            b'%' => {
                let n = number(text).max(0) as usize;
                if !l.is_null() {
                    ffi::lua_createtable(l, 0, 1);
                    ffi::lua_createtable(l, 0, n.min(1 << 16) as c_int);
                }
                let mut p = next;
                for _ in 0..n {
                    p = push_reply(l, buf, p);
                    p = push_reply(l, buf, p);
                    if !l.is_null() {
                        ffi::lua_rawset(l, -3);
                    }
                }
                if !l.is_null() {
                    set_field(l, b"map");
                }
                p
            }
            b'|' => {
                // Attributes are parsed and dropped; the reply they annotate follows.
                let n = number(text).max(0) as usize;
                let mut p = next;
                for _ in 0..2 * n {
                    p = push_reply(std::ptr::null_mut(), buf, p);
                }
                push_reply(l, buf, p)
            }
            b'_' => {
                if !l.is_null() {
                    ffi::lua_pushnil(l);
                }
                next
            }
            b'#' => {
                if !l.is_null() {
                    ffi::lua_pushboolean(l, c_int::from(text == b"t"));
                }
                next
            }
            b',' => {
                if !l.is_null() {
                    let v = parse_double(text);
                    ffi::lua_createtable(l, 0, 1);
                    ffi::lua_pushnumber(l, v);
                    set_field(l, b"double");
                }
                next
            }
            b'(' => {
                if !l.is_null() {
                    ffi::lua_createtable(l, 0, 1);
                    push_bytes(l, text);
                    set_field(l, b"big_number");
                }
                next
            }
            _ => {
                if !l.is_null() {
                    ffi::lua_pushnil(l);
                }
                buf.len()
            }
        }
    }
}

fn parse_double(text: &[u8]) -> f64 {
    match text {
        b"inf" => f64::INFINITY,
        b"-inf" => f64::NEG_INFINITY,
        b"nan" => f64::NAN,
        _ => std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0),
    }
}

/// The bytes of the string at `idx`, if it is a string or a number (Lua converts).
pub(crate) unsafe fn to_bytes<'a>(l: *mut lua_State, idx: c_int) -> Option<&'a [u8]> {
    let mut len = 0usize;
    let p = unsafe { ffi::lua_tolstring(l, idx, &mut len) };
    if p.is_null() {
        None
    } else {
        Some(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
    }
}

/// Pushes `t[key]` (raw) for the table at `idx`; returns its Lua type.
unsafe fn raw_field(l: *mut lua_State, idx: c_int, key: &[u8]) -> c_int {
    unsafe {
        push_bytes(l, key);
        ffi::lua_rawget(l, if idx < 0 { idx - 1 } else { idx });
        ffi::lua_type(l, -1)
    }
}

/// What an error table carries (Redis's errorInfo).
#[derive(Debug, Default)]
pub struct ErrorInfo {
    /// `err`: the message, with its code.
    pub msg: Vec<u8>,
    /// `source` and `line`, added by the error handler.
    pub source: Option<Vec<u8>>,
    /// The line, as Lua formats the number.
    pub line: Option<Vec<u8>>,
    /// The error came from a command's reply and was counted then.
    pub ignore_stats: bool,
}

/// Reads the error value on top of the stack (a table, or a string) without popping it.
pub(crate) unsafe fn error_info(l: *mut lua_State) -> ErrorInfo {
    let mut info = ErrorInfo::default();
    unsafe {
        if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
            let mut m = b"ERR ".to_vec();
            m.extend_from_slice(to_bytes(l, -1).unwrap_or_default());
            info.msg = m;
            return info;
        }
        if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
            return info;
        }
        raw_field(l, -1, b"err");
        if ffi::lua_isstring(l, -1) != 0 {
            info.msg = to_bytes(l, -1).unwrap_or_default().to_vec();
        }
        ffi::lua_pop(l, 1);
        raw_field(l, -1, b"source");
        if ffi::lua_isstring(l, -1) != 0 {
            info.source = to_bytes(l, -1).map(<[u8]>::to_vec);
        }
        ffi::lua_pop(l, 1);
        raw_field(l, -1, b"line");
        if ffi::lua_isstring(l, -1) != 0 {
            info.line = to_bytes(l, -1).map(<[u8]>::to_vec);
        }
        ffi::lua_pop(l, 1);
        if raw_field(l, -1, b"ignore_error_stats_update") == ffi::LUA_TBOOLEAN {
            info.ignore_stats = ffi::lua_toboolean(l, -1) != 0;
        }
        ffi::lua_pop(l, 1);
    }
    info
}

/// Converts the value on top of the stack into `out` (Redis's luaReplyToRedisReply) and
/// pops it. `script_resp3`: the script switched to RESP3 (`redis.setresp(3)`), which
/// changes how booleans are sent.
/// Returns true when the value was an error table marked as already counted (a command's
/// error passed on).
pub(crate) unsafe fn reply_from_lua(
    l: *mut lua_State,
    out: &mut Reply,
    script_resp3: bool,
) -> bool {
    unsafe {
        if ffi::lua_checkstack(l, 4) == 0 {
            out.error("ERR reached lua stack limit");
            ffi::lua_pop(l, 1);
            return false;
        }
        match ffi::lua_type(l, -1) {
            ffi::LUA_TSTRING => out.bulk(to_bytes(l, -1).unwrap_or_default()),
            ffi::LUA_TBOOLEAN => {
                let v = ffi::lua_toboolean(l, -1) != 0;
                if !script_resp3 {
                    if v {
                        out.int(1);
                    } else {
                        out.null();
                    }
                } else {
                    out.boolean(v);
                }
            }
            ffi::LUA_TNUMBER => out.int(c_long_long(ffi::lua_tonumber(l, -1))),
            ffi::LUA_TTABLE => return table_reply(l, out, script_resp3),
            _ => out.null(),
        }
        ffi::lua_pop(l, 1);
    }
    false
}

/// The table case of [`reply_from_lua`]; pops the table.
unsafe fn table_reply(l: *mut lua_State, out: &mut Reply, script_resp3: bool) -> bool {
    unsafe {
        if raw_field(l, -1, b"err") == ffi::LUA_TSTRING {
            ffi::lua_pop(l, 1);
            let info = error_info(l);
            let mut e = b"-".to_vec();
            e.extend_from_slice(&info.msg);
            error_raw(out, &e);
            ffi::lua_pop(l, 1);
            return info.ignore_stats;
        }
        ffi::lua_pop(l, 1);
        if raw_field(l, -1, b"ok") == ffi::LUA_TSTRING {
            let ok: Vec<u8> = to_bytes(l, -1)
                .unwrap_or_default()
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                .collect();
            out.raw(b"+");
            out.raw(&ok);
            out.raw(b"\r\n");
            ffi::lua_pop(l, 2);
            return false;
        }
        ffi::lua_pop(l, 1);
        if raw_field(l, -1, b"double") == ffi::LUA_TNUMBER {
            out.double(ffi::lua_tonumber(l, -1));
            ffi::lua_pop(l, 2);
            return false;
        }
        ffi::lua_pop(l, 1);
        if raw_field(l, -1, b"big_number") == ffi::LUA_TSTRING {
            let n: Vec<u8> = to_bytes(l, -1)
                .unwrap_or_default()
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                .collect();
            if out.is_resp3() {
                out.raw(b"(");
                out.raw(&n);
                out.raw(b"\r\n");
            } else {
                out.bulk(&n);
            }
            ffi::lua_pop(l, 2);
            return false;
        }
        ffi::lua_pop(l, 1);
        if raw_field(l, -1, b"verbatim_string") == ffi::LUA_TTABLE {
            if raw_field(l, -1, b"format") == ffi::LUA_TSTRING {
                let format = to_bytes(l, -1).unwrap_or_default().to_vec();
                if raw_field(l, -2, b"string") == ffi::LUA_TSTRING {
                    let s = to_bytes(l, -1).unwrap_or_default();
                    if out.is_resp3() {
                        let mut body = format.clone();
                        body.truncate(3);
                        body.push(b':');
                        body.extend_from_slice(s);
                        out.raw(format!("={}\r\n", body.len()).as_bytes());
                        out.raw(&body);
                        out.raw(b"\r\n");
                    } else {
                        out.bulk(s);
                    }
                    ffi::lua_pop(l, 4);
                    return false;
                }
                ffi::lua_pop(l, 1);
            }
            ffi::lua_pop(l, 1);
        }
        ffi::lua_pop(l, 1);
        if raw_field(l, -1, b"map") == ffi::LUA_TTABLE {
            let at = out.begin_deferred();
            let mut n = 0;
            ffi::lua_pushnil(l);
            while ffi::lua_next(l, -2) != 0 {
                // Stack: table, map, key, value.
                ffi::lua_pushvalue(l, -2);
                reply_from_lua(l, out, script_resp3);
                reply_from_lua(l, out, script_resp3);
                n += 1;
            }
            out.end_deferred(at, b'%', n);
            ffi::lua_pop(l, 2);
            return false;
        }
        ffi::lua_pop(l, 1);
        if raw_field(l, -1, b"set") == ffi::LUA_TTABLE {
            let at = out.begin_deferred();
            let mut n = 0;
            ffi::lua_pushnil(l);
            while ffi::lua_next(l, -2) != 0 {
                ffi::lua_pop(l, 1);
                ffi::lua_pushvalue(l, -1);
                reply_from_lua(l, out, script_resp3);
                n += 1;
            }
            out.end_deferred(at, b'~', n);
            ffi::lua_pop(l, 2);
            return false;
        }
        ffi::lua_pop(l, 1);
        // An array, up to the first nil.
        let at = out.begin_deferred();
        let mut n = 0;
        loop {
            ffi::lua_rawgeti(l, -1, (n + 1) as ffi::lua_Integer);
            if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
                ffi::lua_pop(l, 1);
                break;
            }
            reply_from_lua(l, out, script_resp3);
            n += 1;
        }
        out.end_deferred(at, b'*', n);
        ffi::lua_pop(l, 1);
    }
    false
}

/// C's `(long long)` of a double as x86-64 computes it: out of range (and NaN) gives the
/// minimum, where Rust's `as` would saturate.
pub fn c_long_long(v: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if v.is_nan() || !(-LIMIT..LIMIT).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// An error reply from raw bytes starting with `-` (CR and LF become spaces).
pub fn error_raw(out: &mut Reply, e: &[u8]) {
    out.error_parts(&[&e[1..]]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_truncate_as_c_does() {
        assert_eq!(c_long_long(3.99), 3);
        assert_eq!(c_long_long(-3.99), -3);
        assert_eq!(c_long_long(1e20), i64::MIN);
        assert_eq!(c_long_long(f64::INFINITY), i64::MIN);
        assert_eq!(c_long_long(f64::NAN), i64::MIN);
    }

    #[test]
    fn trims_line_ends() {
        assert_eq!(trim_crlf(b"\r\nabc\r\n"), b"abc");
        assert_eq!(trim_crlf(b"\r\n"), b"");
        assert_eq!(trim_crlf(b"a b"), b"a b");
    }
}
