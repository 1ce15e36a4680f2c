//! The Lua side of FUNCTION LOAD (Redis's function_lua.c): running a library's code so it
//! can register its functions, and calling a registered function.
//!
//! A library's code runs once, at load, with the same global table as scripts, whose reads
//! are switched for that run to the *loading API*: only `redis.register_function`,
//! `redis.log`, the `LOG_*` levels and the version fields; any other name is an error
//! ("nonexistent global variable"). The functions it registers are closures over that same
//! global table, so when they run later its reads fall through to the full API again, as
//! in Redis (which swaps the globals' `__index` the same way).
//!
//! Registrations are collected in a thread-local list while the code runs; nothing else
//! ever sees them.

use std::cell::RefCell;
use std::ffi::c_int;
use std::time::{Duration, Instant};

use mlua::ffi::{self, lua_State};

use super::{
    ENV_KEY, Engine, convert, flags, missing_global, protect, push_readonly_proxy, raise_table,
    readonly_newindex, redis_log,
};

/// Registry key of the loading API's global table.
const LIBRARY_API_KEY: &[u8] = b"__keyval_library_api\0";

/// A function a library registered.
#[derive(Debug)]
pub struct Registered {
    /// `function_name` (letters, digits and underscores).
    pub name: Vec<u8>,
    /// `description`, if given.
    pub desc: Option<Vec<u8>>,
    /// Registry reference of the callback.
    pub func: c_int,
    /// Script flags (`flags = {'no-writes', ...}`).
    pub flags: u32,
}

/// The load in progress.
struct Loading {
    functions: Vec<Registered>,
    started: Instant,
    /// None: no limit (Redis gives none to its master and to loading files).
    timeout: Option<Duration>,
}

thread_local! {
    static LOADING: RefCell<Option<Loading>> = const { RefCell::new(None) };
}

/// Builds the loading API (called once, on a functions engine's state).
pub(super) unsafe fn setup(l: *mut lua_State) {
    unsafe {
        // The globals during a load: only `redis`; anything else is missing.
        ffi::lua_createtable(l, 0, 1);
        // Its `redis`: register_function, log and the constants.
        ffi::lua_createtable(l, 0, 8);
        ffi::lua_pushcfunction(l, register_function);
        ffi::lua_setfield(l, -2, c"register_function".as_ptr());
        ffi::lua_pushcfunction(l, redis_log);
        ffi::lua_setfield(l, -2, c"log".as_ptr());
        let numbers: [(&std::ffi::CStr, f64); 5] = [
            (c"LOG_DEBUG", 0.0),
            (c"LOG_VERBOSE", 1.0),
            (c"LOG_NOTICE", 2.0),
            (c"LOG_WARNING", 3.0),
            (c"REDIS_VERSION_NUM", f64::from(super::REDIS_VERSION_NUM)),
        ];
        for (name, v) in numbers {
            ffi::lua_pushnumber(l, v);
            ffi::lua_setfield(l, -2, name.as_ptr());
        }
        convert::push_bytes(l, super::REDIS_VERSION.as_bytes());
        ffi::lua_setfield(l, -2, c"REDIS_VERSION".as_ptr());
        push_missing_guard(l);
        push_readonly_proxy(l, -1);
        ffi::lua_setfield(l, -3, c"redis".as_ptr());
        ffi::lua_pop(l, 1);
        push_missing_guard(l);
        protect(l, -1);
        ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, LIBRARY_API_KEY.as_ptr().cast());
    }
}

/// Gives the table on top of the stack a metatable that refuses unknown reads and writes.
unsafe fn push_missing_guard(l: *mut lua_State) {
    unsafe {
        ffi::lua_createtable(l, 0, 2);
        ffi::lua_pushcfunction(l, missing_global);
        ffi::lua_setfield(l, -2, c"__index".as_ptr());
        ffi::lua_pushcfunction(l, readonly_newindex);
        ffi::lua_setfield(l, -2, c"__newindex".as_ptr());
        ffi::lua_setmetatable(l, -2);
    }
}

/// Points the scripts' global table at the loading API (`loading`) or at the real globals.
unsafe fn switch_globals(l: *mut lua_State, loading: bool) {
    unsafe {
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, ENV_KEY.as_ptr().cast());
        ffi::lua_getmetatable(l, -1);
        if loading {
            ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, LIBRARY_API_KEY.as_ptr().cast());
        } else {
            ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX);
        }
        ffi::lua_setfield(l, -2, c"__index".as_ptr());
        ffi::lua_pop(l, 2);
    }
}

impl Engine {
    /// Runs a library's code (`code`: the payload after its `#!lua name=...` line, which
    /// keeps its line feed so line numbers match) and returns the functions it registered,
    /// or the error text (Redis's luaEngineCreate). Past `timeout` the load fails.
    pub fn load_library(
        &mut self,
        code: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Vec<Registered>, String> {
        let l = self.state;
        LOADING.with(|c| {
            *c.borrow_mut() = Some(Loading {
                functions: Vec::new(),
                started: Instant::now(),
                timeout,
            })
        });
        // SAFETY: balanced stack operations on the engine's state.
        let outcome = unsafe {
            let top = ffi::lua_gettop(l);
            let outcome = if ffi::luaL_loadbuffer(
                l,
                code.as_ptr().cast(),
                code.len(),
                c"@user_function".as_ptr(),
            ) != 0
            {
                let e = String::from_utf8_lossy(convert::to_bytes(l, -1).unwrap_or_default())
                    .into_owned();
                Err(format!("Error compiling function: {e}"))
            } else {
                ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, ENV_KEY.as_ptr().cast());
                ffi::lua_setfenv(l, -2);
                switch_globals(l, true);
                ffi::lua_sethook(l, Some(load_hook), ffi::LUA_MASKCOUNT, 100_000);
                let status = ffi::lua_pcall(l, 0, 0, 0);
                ffi::lua_sethook(l, None, 0, 0);
                switch_globals(l, false);
                if status != 0 {
                    let info = convert::error_info(l);
                    Err(format!(
                        "Error registering functions: {}",
                        String::from_utf8_lossy(&info.msg)
                    ))
                } else {
                    Ok(())
                }
            };
            ffi::lua_settop(l, top);
            outcome
        };
        let loaded = LOADING.with(|c| c.borrow_mut().take()).map(|s| s.functions);
        let functions = loaded.unwrap_or_default();
        match outcome {
            Ok(()) => Ok(functions),
            Err(e) => {
                for f in functions {
                    self.release(f.func);
                }
                Err(e)
            }
        }
    }

    /// Frees a registered function (its library was deleted or replaced).
    pub fn release(&mut self, func: c_int) {
        // SAFETY: `func` is a registry reference this engine made.
        unsafe { ffi::luaL_unref(self.state, ffi::LUA_REGISTRYINDEX, func) };
    }
}

/// The count hook of a load: stops code that runs past the load timeout.
unsafe extern "C-unwind" fn load_hook(l: *mut lua_State, _ar: *mut ffi::lua_Debug) {
    let expired = LOADING.with(|c| {
        c.borrow()
            .as_ref()
            .and_then(|s| s.timeout.map(|t| s.started.elapsed() > t))
            .unwrap_or(false)
    });
    if expired {
        unsafe {
            // Re-armed on every line, so a pcall in the code cannot swallow it and go on.
            ffi::lua_sethook(l, Some(load_hook), ffi::LUA_MASKLINE, 0);
            raise_table(l, b"FUNCTION LOAD timeout");
        }
    }
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=,
/// callback=, description=, flags=}` (Redis's luaRegisterFunction).
unsafe extern "C-unwind" fn register_function(l: *mut lua_State) -> c_int {
    // The error table is pushed by `register`, whose values are all dropped by now.
    if unsafe { register(l) } {
        0
    } else {
        unsafe { ffi::lua_error(l) }
    }
}

/// Reads and records one registration; on failure pushes the error table and returns
/// false.
unsafe fn register(l: *mut lua_State) -> bool {
    unsafe {
        let loading = LOADING.with(|c| c.borrow().is_some());
        if !loading {
            convert::push_error_table(
                l,
                b"redis.register_function can only be called on FUNCTION LOAD command",
            );
            return false;
        }
        let read = match ffi::lua_gettop(l) {
            1 => read_named_args(l),
            2 => read_positional_args(l),
            _ => Err("wrong number of arguments to redis.register_function"),
        };
        let f = match read {
            Ok(f) => f,
            Err(msg) => {
                convert::push_error_table(l, msg.as_bytes());
                return false;
            }
        };
        let refused = if !valid_name(&f.name) {
            Some(
                "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
            )
        } else {
            LOADING.with(|c| {
                let mut c = c.borrow_mut();
                let functions = &mut c.as_mut().expect("checked above").functions;
                if functions.iter().any(|g| g.name == f.name) {
                    Some("Function already exists in the library")
                } else {
                    None
                }
            })
        };
        if let Some(msg) = refused {
            ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, f.func);
            convert::push_error_table(l, msg.as_bytes());
            return false;
        }
        LOADING.with(|c| {
            if let Some(s) = c.borrow_mut().as_mut() {
                s.functions.push(f);
            }
        });
        true
    }
}

/// Function and library names: letters, digits and underscores, at least one.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A string argument (numbers convert, as lua_isstring allows).
unsafe fn string_at(l: *mut lua_State, idx: c_int) -> Option<Vec<u8>> {
    unsafe {
        if ffi::lua_isstring(l, idx) == 0 {
            return None;
        }
        convert::to_bytes(l, idx).map(<[u8]>::to_vec)
    }
}

unsafe fn read_positional_args(l: *mut lua_State) -> Result<Registered, &'static str> {
    unsafe {
        let Some(name) = string_at(l, 1) else {
            return Err("first argument to redis.register_function must be a string");
        };
        if ffi::lua_type(l, 2) != ffi::LUA_TFUNCTION {
            return Err("second argument to redis.register_function must be a function");
        }
        let func = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
        Ok(Registered {
            name,
            desc: None,
            func,
            flags: 0,
        })
    }
}

unsafe fn read_named_args(l: *mut lua_State) -> Result<Registered, &'static str> {
    unsafe {
        if ffi::lua_type(l, 1) != ffi::LUA_TTABLE {
            return Err(
                "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
            );
        }
        let mut name = None;
        let mut desc = None;
        let mut func: Option<c_int> = None;
        let mut fflags = 0;
        let error = |func: Option<c_int>, msg: &'static str| {
            if let Some(f) = func {
                ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, f);
            }
            Err(msg)
        };
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, 1) != 0 {
            // Stack: table, key, value. Only a string key can name an argument (reading a
            // number key as a string would change it under lua_next).
            if ffi::lua_isstring(l, -2) == 0 {
                return error(
                    func,
                    "named argument key given to redis.register_function is not a string",
                );
            }
            let key = if ffi::lua_type(l, -2) == ffi::LUA_TSTRING {
                convert::to_bytes(l, -2)
                    .unwrap_or_default()
                    .to_ascii_lowercase()
            } else {
                Vec::new()
            };
            match &key[..] {
                b"function_name" => match string_at(l, -1) {
                    Some(n) => name = Some(n),
                    None => {
                        return error(
                            func,
                            "function_name argument given to redis.register_function must be a string",
                        );
                    }
                },
                b"description" => match string_at(l, -1) {
                    Some(d) => desc = Some(d),
                    None => {
                        return error(
                            func,
                            "description argument given to redis.register_function must be a string",
                        );
                    }
                },
                b"callback" => {
                    if ffi::lua_type(l, -1) != ffi::LUA_TFUNCTION {
                        return error(
                            func,
                            "callback argument given to redis.register_function must be a function",
                        );
                    }
                    // Pops the value: the key stays for lua_next.
                    func = Some(ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX));
                    continue;
                }
                b"flags" => {
                    if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
                        return error(
                            func,
                            "flags argument to redis.register_function must be a table representing function flags",
                        );
                    }
                    match read_flags(l) {
                        Some(f) => fflags = f,
                        None => return error(func, "unknown flag given"),
                    }
                }
                _ => return error(func, "unknown argument given to redis.register_function"),
            }
            ffi::lua_pop(l, 1);
        }
        let Some(name) = name else {
            return error(
                func,
                "redis.register_function must get a function name argument",
            );
        };
        let Some(func) = func else {
            return error(func, "redis.register_function must get a callback argument");
        };
        Ok(Registered {
            name,
            desc,
            func,
            flags: fflags,
        })
    }
}

/// The flags in the array on top of the stack; None on a non-string or unknown one.
unsafe fn read_flags(l: *mut lua_State) -> Option<u32> {
    let mut f = 0;
    let mut i = 1;
    unsafe {
        loop {
            ffi::lua_pushnumber(l, f64::from(i));
            ffi::lua_gettable(l, -2);
            i += 1;
            if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
                ffi::lua_pop(l, 1);
                return Some(f);
            }
            if ffi::lua_isstring(l, -1) == 0 {
                ffi::lua_pop(l, 1);
                return None;
            }
            let name = convert::to_bytes(l, -1).unwrap_or_default();
            let bit = flags::NAMES
                .iter()
                .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
                .map(|&(_, b)| b);
            ffi::lua_pop(l, 1);
            f |= bit?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names() {
        assert!(valid_name(b"my_lib2"));
        assert!(!valid_name(b""));
        assert!(!valid_name(b"a-b"));
        assert!(!valid_name(b"a b"));
    }
}
