//! The libraries Redis bundles into its Lua: cjson, cmsgpack, bit (LuaBitOp) and struct.
//! Each `open` registers its global table in a Lua state.
//!
//! The functions are raw Lua C functions (not mlua closures) for three reasons that all come
//! from comparing replies with redis-server byte for byte:
//!
//! * errors must be Lua strings raised the way `luaL_error` / `luaL_argerror` raise them, so
//!   that the caller's `user_script:1: ` prefix and the `bad argument #n to 'name'` wording
//!   (taken from the call site, `'?'` under `pcall(f, ...)`) are those of the C originals;
//!   an mlua callback error would reach scripts as a userdata, without that prefix;
//! * numbers must be read as the exact doubles Lua holds (mlua turns `1e-17` and `-0.0` into
//!   the integer 0 on Lua 5.1);
//! * a C function keeps its Lua caller's frame on a tail call (`return cjson.decode(s)`),
//!   which is where the error position comes from; a Lua wrapper would lose it.
//!
//! Lua raises errors with `longjmp`, which must not cross Rust frames that own resources.
//! Every function therefore works in phases: argument checks through lauxlib while no Rust
//! value is alive; the work itself in Rust, reading the Lua stack with calls that cannot raise
//! and reporting failures as a [`Fail`]; then the results are pushed by [`protected`], which
//! runs the pushing code under `lua_pcall` so that an allocation error cannot jump over the
//! Rust buffers. Only growing the Lua stack while a table is walked (`lua_checkstack`) can
//! still raise, and only when memory is exhausted.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod structlib;

use std::ffi::{CStr, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use mlua::ffi::{self, lua_CFunction, lua_State};

/// Registers `cjson`, `struct`, `cmsgpack` and `bit` as globals, in the order Redis loads them.
pub fn open_all(lua: &mlua::Lua) -> mlua::Result<()> {
    cjson::open(lua)?;
    structlib::open(lua)?;
    cmsgpack::open(lua)?;
    bit::open(lua)?;
    Ok(())
}

/// Lua 5.1's `LUAI_MAXCSTACK`: how many slots a C function may hold on its stack. The
/// originals hit it (through `lua_checkstack`) when returning many values or nesting deeply.
pub(crate) const MAX_C_STACK: usize = 8000;

/// A failure found by the Rust part of a library function, raised once nothing is borrowed.
#[derive(Debug)]
pub(crate) enum Fail {
    /// As `luaL_error`: the message gets the caller's `chunk:line: ` prefix.
    Error(String),
    /// As `luaL_argerror(L, n, msg)`: `bad argument #n to 'f' (msg)`.
    Arg(c_int, String),
    /// As an error raised by the Lua core itself inside a C function (`table index is nil`):
    /// the message alone.
    Plain(String),
    /// The error value is already on top of the Lua stack (a failed protected call).
    Pending,
}

impl Fail {
    pub(crate) fn error(msg: impl Into<String>) -> Fail {
        Fail::Error(msg.into())
    }
    pub(crate) fn arg(narg: c_int, msg: impl Into<String>) -> Fail {
        Fail::Arg(narg, msg.into())
    }
}

/// Raises `fail` as a Lua error. The message is copied to a fixed buffer and `fail` dropped
/// first, so the `longjmp` leaves no owned Rust value behind.
pub(crate) unsafe fn raise(l: *mut lua_State, fail: Fail) -> ! {
    const CAP: usize = 512;
    let mut buf = [0u8; CAP];
    let (kind, narg) = match &fail {
        Fail::Error(_) => (0, 0),
        Fail::Arg(n, _) => (1, *n),
        Fail::Plain(_) => (2, 0),
        Fail::Pending => (3, 0),
    };
    if let Fail::Error(m) | Fail::Arg(_, m) | Fail::Plain(m) = &fail {
        let bytes: Vec<u8> = m.bytes().filter(|&b| b != 0).take(CAP - 1).collect();
        buf[..bytes.len()].copy_from_slice(&bytes);
    }
    drop(fail);
    let msg = buf.as_ptr().cast();
    unsafe {
        match kind {
            0 => {
                ffi::luaL_error(l, c"%s".as_ptr(), msg);
            }
            1 => {
                ffi::luaL_argerror(l, narg, msg);
            }
            2 => ffi::lua_pushstring_(l, msg),
            _ => {}
        }
        ffi::lua_error(l)
    }
}

/// Runs the Rust part of a library function and turns its failure (or a panic) into a Lua
/// error. `body` returns the number of results it left on the stack.
pub(crate) unsafe fn guard(l: *mut lua_State, body: impl FnOnce() -> Result<c_int, Fail>) -> c_int {
    let outcome = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(_) => Err(Fail::error("internal error in a Lua library")),
    };
    match outcome {
        Ok(n) => n,
        Err(fail) => unsafe { raise(l, fail) },
    }
}

type Pusher<'a> = &'a mut dyn FnMut(*mut lua_State) -> c_int;

/// The function [`protected`] calls: its only argument is a light userdata pointing at the
/// pushing closure. Registered as upvalue 1 of every library function, so that calling it
/// allocates nothing outside the protected call.
unsafe extern "C-unwind" fn trampoline(l: *mut lua_State) -> c_int {
    unsafe {
        let f = ffi::lua_touserdata(l, 1) as *mut Pusher;
        ffi::lua_settop(l, 0);
        (*f)(l)
    }
}

/// Runs `push` (which pushes results with Lua calls that may raise, holding only references)
/// under `lua_pcall`, and returns how many values it left on the stack. On an error the error
/// value is on top of the stack and [`Fail::Pending`] is returned: the caller drops its
/// buffers by returning it to [`guard`].
pub(crate) unsafe fn protected(
    l: *mut lua_State,
    mut push: impl FnMut(*mut lua_State) -> c_int,
) -> Result<c_int, Fail> {
    let mut dynf: Pusher = &mut push;
    unsafe {
        let base = ffi::lua_gettop(l);
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
        ffi::lua_pushlightuserdata(l, (&mut dynf as *mut Pusher).cast::<c_void>());
        if ffi::lua_pcall(l, 1, ffi::LUA_MULTRET, 0) != 0 {
            return Err(Fail::Pending);
        }
        Ok(ffi::lua_gettop(l) - base)
    }
}

/// Pushes a byte string, in protected code.
pub(crate) unsafe fn push_bytes(l: *mut lua_State, b: &[u8]) {
    unsafe { ffi::lua_pushlstring_(l, b.as_ptr().cast(), b.len()) }
}

/// Sets `t[name] = f` for each function of a library table at `table` (an absolute index),
/// each a closure over the trampoline at absolute index `tramp` and, if given, the value at
/// `extra` as upvalue 2.
pub(crate) unsafe fn set_functions(
    l: *mut lua_State,
    table: c_int,
    tramp: c_int,
    extra: Option<c_int>,
    funcs: &[(&CStr, lua_CFunction)],
) {
    for (name, f) in funcs {
        unsafe {
            ffi::lua_pushvalue(l, tramp);
            let mut n = 1;
            if let Some(e) = extra {
                ffi::lua_pushvalue(l, e);
                n += 1;
            }
            ffi::lua_pushcclosure(l, *f, n);
            ffi::lua_setfield(l, table, name.as_ptr());
        }
    }
}

/// Pushes the trampoline function (for [`set_functions`]).
pub(crate) unsafe fn push_trampoline(l: *mut lua_State) {
    unsafe { ffi::lua_pushcfunction(l, trampoline) }
}

/// Creates the global table `name` with `funcs` and string fields `fields`.
pub(crate) fn open_simple(
    lua: &mlua::Lua,
    name: &str,
    funcs: &'static [(&'static CStr, lua_CFunction)],
    fields: &[(&str, &str)],
) -> mlua::Result<()> {
    let table: mlua::Table = unsafe {
        lua.exec_raw((), |l| {
            ffi::lua_createtable(l, 0, (funcs.len() + fields.len()) as c_int);
            let t = ffi::lua_gettop(l);
            push_trampoline(l);
            set_functions(l, t, t + 1, None, funcs);
            ffi::lua_settop(l, t);
        })?
    };
    for (k, v) in fields {
        table.raw_set(*k, *v)?;
    }
    lua.globals().set(name, table)
}

/// `luaL_typename` of argument `narg`: `"no value"` when absent.
pub(crate) unsafe fn type_name(l: *mut lua_State, narg: c_int) -> String {
    unsafe {
        let t = ffi::lua_type(l, narg);
        CStr::from_ptr(ffi::lua_typename(l, t))
            .to_string_lossy()
            .into_owned()
    }
}

/// The bytes of the string (or number, converted in place as `lua_tolstring` does) at `idx`.
/// The slice lives as long as the value stays on the stack.
pub(crate) unsafe fn to_bytes<'a>(l: *mut lua_State, idx: c_int) -> Option<&'a [u8]> {
    unsafe {
        let mut len = 0usize;
        let p = ffi::lua_tolstring(l, idx, &mut len);
        if p.is_null() {
            None
        } else {
            Some(std::slice::from_raw_parts(p.cast::<u8>(), len))
        }
    }
}

/// `luaL_checklstring` / `luaL_checknumber` / `luaL_checkinteger` without raising.
pub(crate) unsafe fn check_bytes<'a>(l: *mut lua_State, narg: c_int) -> Result<&'a [u8], Fail> {
    unsafe {
        to_bytes(l, narg)
            .ok_or_else(|| Fail::arg(narg, format!("string expected, got {}", type_name(l, narg))))
    }
}

pub(crate) unsafe fn check_number(l: *mut lua_State, narg: c_int) -> Result<f64, Fail> {
    unsafe {
        let d = ffi::lua_tonumber(l, narg);
        if d == 0.0 && ffi::lua_isnumber(l, narg) == 0 {
            return Err(Fail::arg(
                narg,
                format!("number expected, got {}", type_name(l, narg)),
            ));
        }
        Ok(d)
    }
}

/// C's `(int64_t)d` as x86-64 computes it: out of range (and NaN) gives `INT64_MIN`.
pub(crate) fn c_to_i64(d: f64) -> i64 {
    if (-9223372036854775808.0..9223372036854775808.0).contains(&d) {
        d as i64
    } else {
        i64::MIN
    }
}

/// C's `(int)d` on x86-64: out of range (and NaN) gives `INT_MIN`.
pub(crate) fn c_to_i32(d: f64) -> i32 {
    if d > -2147483649.0 && d < 2147483648.0 {
        d as i32
    } else {
        i32::MIN
    }
}

/// C's `(uint64_t)d` / `(size_t)d` as gcc compiles it for x86-64.
pub(crate) fn c_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    if d.is_nan() || d < TWO63 {
        c_to_i64(d) as u64
    } else {
        (c_to_i64(d - TWO63) as u64) ^ (1 << 63)
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    /// A Lua state with all four libraries, as the tests of each library use it.
    pub fn lua() -> mlua::Lua {
        let lua = mlua::Lua::new();
        super::open_all(&lua).unwrap();
        lua
    }

    /// Runs `code` (a chunk named `user_script`, as Redis names scripts) and returns its first
    /// result as bytes (via `tostring`).
    pub fn eval(lua: &mlua::Lua, code: &str) -> Vec<u8> {
        let f = lua
            .load(code)
            .set_name("=user_script")
            .into_function()
            .unwrap();
        let v: mlua::Value = f.call(()).unwrap();
        let s: mlua::String = lua
            .globals()
            .get::<mlua::Function>("tostring")
            .unwrap()
            .call(v)
            .unwrap();
        s.as_bytes().to_vec()
    }

    pub fn eval_str(lua: &mlua::Lua, code: &str) -> String {
        String::from_utf8_lossy(&eval(lua, code)).into_owned()
    }

    /// The message of the error `code` raises inside `pcall(function() ... end)`, which is
    /// what a script sees.
    pub fn err(lua: &mlua::Lua, code: &str) -> String {
        let wrapped = format!(
            "local ok, e = pcall(function() {code} end) \
             if ok then return 'no error' end return e"
        );
        eval_str(lua, &wrapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_casts_follow_x86() {
        assert_eq!(c_to_i64(f64::NAN), i64::MIN);
        assert_eq!(c_to_i64(1e300), i64::MIN);
        assert_eq!(c_to_i64(-3.7), -3);
        assert_eq!(c_to_i32(2147483648.0), i32::MIN);
        assert_eq!(c_to_i32(-2147483648.5), -2147483648);
        assert_eq!(c_to_u64(1e20), 0);
        assert_eq!(c_to_u64(9223372036854775808.0), 1 << 63);
    }

    #[test]
    fn all_globals_exist() {
        let lua = testutil::lua();
        for g in ["cjson", "cmsgpack", "bit", "struct"] {
            let t: mlua::Table = lua.globals().get(g).unwrap();
            assert!(t.pairs::<mlua::Value, mlua::Value>().count() > 2);
        }
    }
}
