//! The Lua 5.1 engine behind EVAL (Redis's eval.c and script_lua.c): one Lua state for the
//! server, created by the first script (a server that never runs one pays nothing), with
//! Redis's `redis` API, its bundled libraries and its sandbox.
//!
//! **Sandbox.** Redis patches Lua with read-only tables; stock Lua 5.1 has none, so the
//! same rules are kept with metatables. Scripts run with an empty proxy as their global
//! table: reads fall through to the real globals, any assignment fails with Redis's
//! "Attempt to modify a readonly table", and reading a global that does not exist fails
//! with "Script attempted to access nonexistent global variable". The library tables
//! (`redis`, `string`, `math`, ...) are read-only proxies the same way, and `rawset`
//! refuses them. `os`, `io`, `print`, `loadfile`, `dofile` and `require` do not exist;
//! `debug` is only used to build the error handler and then removed.
//!
//! **Calls into the server.** `redis.call` and friends are C functions over mlua's raw
//! `ffi`, as in Redis: a command's error must be raised as a Lua *table* (`{err=...}`),
//! which mlua's safe callbacks cannot do. While a script runs, its [`Host`] (the command
//! dispatcher, see `cmd::scripting`) is reachable from them through a thread-local
//! pointer, set and cleared around the call; nothing else ever holds it.

pub mod convert;
pub mod functions;
pub mod library;
pub mod libs;
pub mod sha1;

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{CString, c_int};

use mlua::ffi::{self, lua_State};

use crate::resp::{Args, Reply};

/// Script flags of a `#!lua flags=...` shebang (Redis's SCRIPT_FLAG_*).
pub mod flags {
    /// No shebang: Redis's backwards-compatible EVAL mode.
    pub const EVAL_COMPAT: u32 = 1 << 0;
    /// `no-writes`
    pub const NO_WRITES: u32 = 1 << 1;
    /// `allow-oom`
    pub const ALLOW_OOM: u32 = 1 << 2;
    /// `allow-stale`
    pub const ALLOW_STALE: u32 = 1 << 3;
    /// `no-cluster`
    pub const NO_CLUSTER: u32 = 1 << 4;
    /// `allow-cross-slot-keys`
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 5;

    /// Names as shebangs and FUNCTION LIST spell them.
    pub const NAMES: [(&str, u32); 5] = [
        ("no-writes", NO_WRITES),
        ("allow-oom", ALLOW_OOM),
        ("allow-stale", ALLOW_STALE),
        ("no-cluster", NO_CLUSTER),
        ("allow-cross-slot-keys", ALLOW_CROSS_SLOT),
    ];
}

/// What a running script needs from the server.
pub trait Host {
    /// Runs a command for the script (Redis's scriptCall). `Ok` holds the command's raw
    /// reply; `Err` a refusal before running (unknown command, wrong arity, not allowed
    /// from scripts, a write in a read-only script), as text without the leading `-`.
    fn call(&mut self, argv: &[Vec<u8>]) -> Result<&[u8], String>;
    /// The protocol of the script's replies from commands (`redis.setresp`).
    fn set_resp3(&mut self, on: bool);
    /// True after `redis.setresp(3)`.
    fn resp3(&self) -> bool;
    /// True when `argv` names a command (`redis.acl_check_cmd`; every command is
    /// permitted to the only user there is).
    fn command_exists(&self, argv: &[Vec<u8>]) -> bool;
    /// Redis's verbosity (0 debug .. 3 warning), for `redis.log`.
    fn verbosity(&self) -> i32;
    /// Called every 100,000 Lua instructions: past busy-reply-threshold the host answers
    /// other clients (see ARCHITECTURE.md). True when SCRIPT KILL asked to stop.
    fn interrupt(&mut self) -> bool;
}

thread_local! {
    /// The host of the script running now (null outside scripts).
    static HOST: Cell<*mut dyn Host> = Cell::new(std::ptr::null_mut::<NoHost>() as *mut dyn Host);
}

/// The type of the null host pointer.
struct NoHost;

impl Host for NoHost {
    fn call(&mut self, _: &[Vec<u8>]) -> Result<&[u8], String> {
        Err("no script is running".into())
    }
    fn set_resp3(&mut self, _: bool) {}
    fn resp3(&self) -> bool {
        false
    }
    fn command_exists(&self, _: &[Vec<u8>]) -> bool {
        false
    }
    fn verbosity(&self) -> i32 {
        2
    }
    fn interrupt(&mut self) -> bool {
        false
    }
}

/// The host of the running script, if one runs. The reference must not outlive the C
/// function that asked for it.
fn host() -> Option<&'static mut dyn Host> {
    let p = HOST.with(Cell::get);
    // SAFETY: set by `Engine::run` to a host that outlives the call, cleared after it.
    unsafe { p.as_mut() }
}

/// A compiled script.
#[derive(Debug)]
struct Script {
    /// Registry reference of its function.
    func: c_int,
    /// Shebang flags.
    flags: u32,
}

/// Registry keys of the engine's own values.
const ENV_KEY: &[u8] = b"__keyval_script_env\0";
const HANDLER_KEY: &[u8] = b"__keyval_err_handler\0";
const PROTECTED_KEY: &[u8] = b"__keyval_protected\0";

/// Redis's 48-bit linear congruential generator behind `math.random` (its rand.c): the
/// same sequence on every platform, from the server's start or the last `randomseed`.
static RAND_STATE: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0x1234_ABCD_330E);

fn lrand48() -> i32 {
    use std::sync::atomic::Ordering;
    let x = RAND_STATE.load(Ordering::Relaxed);
    let next = x.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB) & ((1 << 48) - 1);
    RAND_STATE.store(next, Ordering::Relaxed);
    (next >> 17) as i32
}

fn srand48(seed: i32) {
    let v = (u64::from(seed as u32) << 16) | 0x330E;
    RAND_STATE.store(v, std::sync::atomic::Ordering::Relaxed);
}

/// The Lua engine: its state and the scripts compiled into it.
pub struct Engine {
    lua: mlua::Lua,
    /// The main Lua state, owned by `lua`.
    state: *mut lua_State,
    scripts: HashMap<[u8; 40], Script>,
    /// Script bodies' bytes (INFO used_memory_scripts).
    bodies: usize,
    /// Runs since Lua's collector last took a step.
    gc_countdown: u32,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("scripts", &self.scripts.len())
            .finish()
    }
}

/// Lua code that builds the error handler (Redis's `__redis__err__handler`: the error as a
/// table, with the source and line of the script code that raised it) while `debug` is
/// still there, then drops `debug`.
const SETUP: &str = r#"
local dbg = debug
debug = nil
return function(err)
  local i = dbg.getinfo(2, 'nSl')
  if i and i.what == 'C' then
    i = dbg.getinfo(3, 'nSl')
  end
  if type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end
"#;

impl Engine {
    /// A fresh Lua state with Redis's libraries, API and sandbox.
    pub fn new() -> Result<Engine, String> {
        use mlua::StdLib;
        // SAFETY: the debug library is needed to build the error handler; it is removed
        // from the globals right after (SETUP), before any script runs.
        let lua = unsafe {
            mlua::Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                mlua::LuaOptions::new(),
            )
        };
        libs::open_all(&lua).map_err(|e| e.to_string())?;
        let mut state: *mut lua_State = std::ptr::null_mut();
        // SAFETY: only reads the state pointer; the stack is left as it was.
        unsafe {
            lua.exec_raw::<()>((), |l| state = l)
                .map_err(|e| e.to_string())?;
        }
        let engine = Engine {
            lua,
            state,
            scripts: HashMap::new(),
            bodies: 0,
            gc_countdown: 50,
        };
        // SAFETY: the state is valid and owned by `engine.lua`.
        unsafe { engine.setup()? };
        Ok(engine)
    }

    /// The engine of FUNCTION libraries: a state of its own (SCRIPT FLUSH does not touch
    /// it), with the loading API beside the usual one (see [`library`]).
    pub fn new_for_functions() -> Result<Engine, String> {
        let engine = Engine::new()?;
        // SAFETY: the state is valid and owned by `engine.lua`.
        unsafe { library::setup(engine.state) };
        Ok(engine)
    }

    /// Installs the `redis` table, Redis's `pcall` and `math.random`, the error handler,
    /// and the sandbox (see the module comment).
    unsafe fn setup(&self) -> Result<(), String> {
        let l = self.state;
        unsafe {
            let top = ffi::lua_gettop(l);
            // Error handler (uses debug, then removes it).
            if ffi::luaL_loadbuffer(
                l,
                SETUP.as_ptr().cast(),
                SETUP.len(),
                c"@err_handler_def".as_ptr(),
            ) != 0
                || ffi::lua_pcall(l, 0, 1, 0) != 0
            {
                let e = convert::to_bytes(l, -1).unwrap_or_default();
                return Err(String::from_utf8_lossy(e).into_owned());
            }
            ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, HANDLER_KEY.as_ptr().cast());

            // Globals Redis does not offer.
            for name in [
                "print", "dofile", "loadfile", "require", "module", "package", "os", "io",
            ] {
                let n = CString::new(name).unwrap_or_default();
                ffi::lua_pushnil(l);
                ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, n.as_ptr());
            }
            ffi::lua_pushcfunction(l, redis_pcall);
            ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"pcall".as_ptr());
            ffi::lua_pushcfunction(l, guarded_rawset);
            ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"rawset".as_ptr());
            ffi::lua_pushcfunction(l, proxied_rawget);
            ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"rawget".as_ptr());
            ffi::lua_getfield(l, ffi::LUA_GLOBALSINDEX, c"setmetatable".as_ptr());
            ffi::lua_pushcclosure(l, guarded_setmetatable, 1);
            ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"setmetatable".as_ptr());
            ffi::lua_pushcfunction(l, text_loadstring);
            ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"loadstring".as_ptr());

            // math.random and math.randomseed as Redis's.
            ffi::lua_getfield(l, ffi::LUA_GLOBALSINDEX, c"math".as_ptr());
            ffi::lua_pushcfunction(l, math_random);
            ffi::lua_setfield(l, -2, c"random".as_ptr());
            ffi::lua_pushcfunction(l, math_randomseed);
            ffi::lua_setfield(l, -2, c"randomseed".as_ptr());
            ffi::lua_pop(l, 1);

            // The redis table.
            ffi::lua_createtable(l, 0, 32);
            let functions: [(&std::ffi::CStr, ffi::lua_CFunction); 12] = [
                (c"call", redis_call),
                (c"pcall", redis_pcall_command),
                (c"sha1hex", redis_sha1hex),
                (c"error_reply", redis_error_reply),
                (c"status_reply", redis_status_reply),
                (c"log", redis_log),
                (c"setresp", redis_setresp),
                (c"set_repl", redis_set_repl),
                (c"replicate_commands", redis_replicate_commands),
                (c"breakpoint", redis_breakpoint),
                (c"debug", redis_debug),
                (c"acl_check_cmd", redis_acl_check_cmd),
            ];
            for (name, f) in functions {
                ffi::lua_pushcfunction(l, f);
                ffi::lua_setfield(l, -2, name.as_ptr());
            }
            let numbers: [(&std::ffi::CStr, f64); 10] = [
                (c"LOG_DEBUG", 0.0),
                (c"LOG_VERBOSE", 1.0),
                (c"LOG_NOTICE", 2.0),
                (c"LOG_WARNING", 3.0),
                (c"REPL_NONE", 0.0),
                (c"REPL_AOF", 1.0),
                (c"REPL_SLAVE", 2.0),
                (c"REPL_REPLICA", 2.0),
                (c"REPL_ALL", 3.0),
                (c"REDIS_VERSION_NUM", f64::from(REDIS_VERSION_NUM)),
            ];
            for (name, v) in numbers {
                ffi::lua_pushnumber(l, v);
                ffi::lua_setfield(l, -2, name.as_ptr());
            }
            convert::push_bytes(l, REDIS_VERSION.as_bytes());
            ffi::lua_setfield(l, -2, c"REDIS_VERSION".as_ptr());
            ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"redis".as_ptr());

            // Protected tables (weak keys), consulted by rawset.
            ffi::lua_createtable(l, 0, 16);
            ffi::lua_createtable(l, 0, 1);
            convert::push_bytes(l, b"k");
            ffi::lua_setfield(l, -2, c"__mode".as_ptr());
            ffi::lua_setmetatable(l, -2);
            ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, PROTECTED_KEY.as_ptr().cast());

            // Library tables become read-only proxies.
            for name in [
                "redis",
                "string",
                "math",
                "table",
                "coroutine",
                "cjson",
                "bit",
                "struct",
                "cmsgpack",
            ] {
                let n = CString::new(name).unwrap_or_default();
                ffi::lua_getfield(l, ffi::LUA_GLOBALSINDEX, n.as_ptr());
                if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
                    ffi::lua_pop(l, 1);
                    continue;
                }
                push_readonly_proxy(l, -1);
                ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, n.as_ptr());
                ffi::lua_pop(l, 1);
            }

            // String methods resolve through the proxy too, so `getmetatable('').__index`
            // is the `string` scripts see.
            convert::push_bytes(l, b"");
            if ffi::lua_getmetatable(l, -1) != 0 {
                ffi::lua_getfield(l, ffi::LUA_GLOBALSINDEX, c"string".as_ptr());
                ffi::lua_setfield(l, -2, c"__index".as_ptr());
                ffi::lua_pop(l, 1);
            }
            ffi::lua_pop(l, 1);

            // The scripts' global table: an empty read-only proxy of the real globals,
            // which in turn refuse new names and unknown reads.
            ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX);
            push_readonly_proxy(l, -1);
            ffi::lua_pushvalue(l, -1);
            ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"_G".as_ptr());
            ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, ENV_KEY.as_ptr().cast());
            // The real globals' own guard.
            ffi::lua_createtable(l, 0, 2);
            ffi::lua_pushcfunction(l, missing_global);
            ffi::lua_setfield(l, -2, c"__index".as_ptr());
            ffi::lua_pushcfunction(l, readonly_newindex);
            ffi::lua_setfield(l, -2, c"__newindex".as_ptr());
            ffi::lua_setmetatable(l, -2);
            protect(l, -1);
            ffi::lua_pop(l, 1);
            ffi::lua_settop(l, top);
        }
        Ok(())
    }

    /// Number of cached scripts (INFO number_of_cached_scripts).
    pub fn len(&self) -> usize {
        self.scripts.len()
    }

    /// True when no script is cached.
    pub fn is_empty(&self) -> bool {
        self.scripts.is_empty()
    }

    /// Memory the engine uses: Lua's heap (INFO used_memory_lua) and the script bodies.
    pub fn memory(&self) -> (usize, usize) {
        (self.lua.used_memory(), self.bodies)
    }

    /// True when a script with this SHA1 (any case) is cached.
    pub fn exists(&self, sha: &[u8]) -> bool {
        sha_key(sha).is_some_and(|k| self.scripts.contains_key(&k))
    }

    /// The shebang flags of a cached script.
    pub fn flags(&self, sha: &[u8]) -> Option<u32> {
        sha_key(sha)
            .and_then(|k| self.scripts.get(&k))
            .map(|s| s.flags)
    }

    /// Compiles and caches `body` unless already cached (Redis's luaCreateFunction); returns
    /// its SHA1, or the error reply text (without the `-`).
    pub fn load(&mut self, body: &[u8]) -> Result<[u8; 40], String> {
        let sha = sha1::sha1_hex(body);
        let mut key = [0u8; 40];
        key.copy_from_slice(sha.as_bytes());
        if self.scripts.contains_key(&key) {
            return Ok(key);
        }
        let (flags, shebang_len) = shebang_flags(body)?;
        let l = self.state;
        // SAFETY: a balanced sequence of stack operations on the engine's state.
        let func = unsafe {
            let code = &body[shebang_len..];
            let status = with_text_chunk(code, |c| {
                ffi::luaL_loadbuffer(l, c.as_ptr().cast(), c.len(), c"@user_script".as_ptr())
            });
            if status != 0 {
                let e = String::from_utf8_lossy(convert::to_bytes(l, -1).unwrap_or_default())
                    .into_owned();
                ffi::lua_pop(l, 1);
                return Err(format!("ERR Error compiling script (new function): {e}"));
            }
            ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, ENV_KEY.as_ptr().cast());
            ffi::lua_setfenv(l, -2);
            ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX)
        };
        self.bodies += body.len() + 40;
        self.scripts.insert(key, Script { func, flags });
        Ok(key)
    }

    /// Runs a cached script with its KEYS and ARGV, replying into `out` (Redis's
    /// luaCallFunction in EVAL mode: KEYS and ARGV are globals). The script's commands go
    /// through `host`.
    ///
    /// Returns true when the script's error reply passes on a command's error, which was
    /// counted in errorstats when the command replied.
    pub fn run(
        &mut self,
        sha: &[u8; 40],
        keys: Args,
        argv: Args,
        host: &mut dyn Host,
        out: &mut Reply,
    ) -> bool {
        let Some(script) = self.scripts.get(sha) else {
            out.error("NOSCRIPT No matching script. Please use EVAL.");
            return false;
        };
        let func = script.func;
        // SAFETY: plain stack operations on the engine's state.
        unsafe {
            set_array_global(self.state, c"KEYS", keys);
            set_array_global(self.state, c"ARGV", argv);
        }
        self.invoke(func, sha, None, host, out)
    }

    /// Runs a library's function (FCALL): its keys and arguments are its two parameters.
    /// Returns what [`Engine::run`] returns.
    pub fn call_function(
        &mut self,
        func: c_int,
        name: &[u8],
        keys: Args,
        argv: Args,
        host: &mut dyn Host,
        out: &mut Reply,
    ) -> bool {
        self.invoke(func, name, Some((keys, argv)), host, out)
    }

    /// Calls function `func` (named `name` in error replies) under the error handler, with
    /// `params` as its two array arguments if given, and converts its result or error.
    fn invoke(
        &mut self,
        func: c_int,
        name: &[u8],
        params: Option<(Args, Args)>,
        host: &mut dyn Host,
        out: &mut Reply,
    ) -> bool {
        let counted;
        let l = self.state;
        // SAFETY: the host pointer lives for this call only; the stack is balanced.
        unsafe {
            let top = ffi::lua_gettop(l);
            ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, HANDLER_KEY.as_ptr().cast());
            ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, ffi::lua_Integer::from(func));
            let nargs = match params {
                Some((keys, argv)) => {
                    push_array(l, keys);
                    push_array(l, argv);
                    2
                }
                None => 0,
            };
            let host: *mut (dyn Host + '_) = host;
            // The pointer is cleared below, before `host`'s borrow ends.
            let host: *mut (dyn Host + 'static) = std::mem::transmute(host);
            HOST.with(|h| h.set(host));
            ffi::lua_sethook(l, Some(busy_hook), ffi::LUA_MASKCOUNT, 100_000);
            let status = ffi::lua_pcall(l, nargs, 1, -(nargs + 2));
            ffi::lua_sethook(l, None, 0, 0);
            let resp3 = host.as_ref().is_some_and(|h| h.resp3());
            if status != 0 {
                if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
                    counted = false;
                    // Only when the error handler itself failed.
                    let what = if ffi::lua_isstring(l, -1) != 0 {
                        convert::to_bytes(l, -1).unwrap_or_default()
                    } else {
                        b"execution failure"
                    };
                    let mut msg = b"-ERR Error running script ".to_vec();
                    msg.extend_from_slice(name);
                    msg.extend_from_slice(b", ");
                    msg.extend_from_slice(&what[..what.len().min(100)]);
                    msg.push(b' ');
                    for b in &mut msg {
                        if *b == b'\r' || *b == b'\n' {
                            *b = b' ';
                        }
                    }
                    convert::error_raw(out, &msg);
                } else {
                    let info = convert::error_info(l);
                    let mut msg = b"-".to_vec();
                    msg.extend_from_slice(&info.msg);
                    if let (Some(line), Some(source)) = (&info.line, &info.source) {
                        msg.extend_from_slice(b" script: ");
                        msg.extend_from_slice(name);
                        msg.extend_from_slice(b", on ");
                        msg.extend_from_slice(source);
                        msg.push(b':');
                        msg.extend_from_slice(line);
                        msg.push(b'.');
                    }
                    convert::error_raw(out, &msg);
                    counted = info.ignore_stats;
                }
                ffi::lua_pop(l, 1);
            } else {
                counted = convert::reply_from_lua(l, out, resp3);
            }
            HOST.with(|h| h.set(std::ptr::null_mut::<NoHost>() as *mut dyn Host));
            ffi::lua_settop(l, top);
            // A small step of garbage collection every 50 runs, as Redis does, instead of
            // letting Lua run a full cycle at a bad moment.
            self.gc_countdown -= 1;
            if self.gc_countdown == 0 {
                self.gc_countdown = 50;
                ffi::lua_gc(l, ffi::LUA_GCSTEP, 50);
            }
        }
        counted
    }
}

/// `REDIS_VERSION` as scripts see it (the version INFO reports).
pub const REDIS_VERSION: &str = "7.2.0";
/// `REDIS_VERSION_NUM`: 0x00MMmmpp.
pub const REDIS_VERSION_NUM: u32 = 0x0007_0200;

/// The cache key of a SHA1 given in any case; None unless it is 40 bytes long.
pub fn sha_key(sha: &[u8]) -> Option<[u8; 40]> {
    let mut k = [0u8; 40];
    if sha.len() != 40 {
        return None;
    }
    for (d, s) in k.iter_mut().zip(sha) {
        *d = s.to_ascii_lowercase();
    }
    Some(k)
}

/// Parses a `#!lua flags=a,b` first line (Redis's evalExtractShebangFlags): the flags, and
/// how many bytes of the body the shebang takes (the line feed stays, so line numbers
/// do not move). Errors are reply texts.
pub fn shebang_flags(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((flags::EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]).into_owned();
    let parts: Vec<&str> = line.split_ascii_whitespace().collect();
    if parts.is_empty() {
        return Err("ERR Invalid engine in script shebang".into());
    }
    if parts[0] != "#!lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: {}",
            parts[0]
        ));
    }
    let mut f = 0;
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        };
        // `flags=` alone declares no flag (Redis splits an empty list into nothing).
        for name in list.split(',').filter(|_| !list.is_empty()) {
            let Some(&(_, bit)) = flags::NAMES.iter().find(|(n, _)| *n == name) else {
                return Err(format!("ERR Unexpected flag in script shebang: {name}"));
            };
            f |= bit;
        }
    }
    Ok((f, end))
}

/// Pushes an array of `args`.
unsafe fn push_array(l: *mut lua_State, args: Args) {
    unsafe {
        ffi::lua_createtable(l, args.len() as c_int, 0);
        for (i, a) in args.iter().enumerate() {
            convert::push_bytes(l, a);
            ffi::lua_rawseti(l, -2, (i + 1) as ffi::lua_Integer);
        }
    }
}

/// Sets global `name` (in the real globals, bypassing the guard) to an array of `args`.
unsafe fn set_array_global(l: *mut lua_State, name: &std::ffi::CStr, args: Args) {
    unsafe {
        push_array(l, args);
        ffi::lua_pushstring(l, name.as_ptr());
        ffi::lua_insert(l, -2);
        ffi::lua_rawset(l, ffi::LUA_GLOBALSINDEX);
    }
}

/// Marks the table at `idx` as protected (rawset refuses it).
unsafe fn protect(l: *mut lua_State, idx: c_int) {
    unsafe {
        let idx = if idx < 0 {
            ffi::lua_gettop(l) + idx + 1
        } else {
            idx
        };
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, PROTECTED_KEY.as_ptr().cast());
        ffi::lua_pushvalue(l, idx);
        ffi::lua_pushboolean(l, 1);
        ffi::lua_rawset(l, -3);
        ffi::lua_pop(l, 1);
    }
}

/// True when the value at stack index `idx` (a positive index) is a protected table.
unsafe fn is_protected(l: *mut lua_State, idx: c_int) -> bool {
    unsafe {
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, PROTECTED_KEY.as_ptr().cast());
        ffi::lua_pushvalue(l, idx);
        ffi::lua_rawget(l, -2);
        let protected = ffi::lua_toboolean(l, -1) != 0;
        ffi::lua_pop(l, 2);
        protected
    }
}

/// Pushes an empty, protected table whose reads fall through to the table at `idx` and
/// whose writes fail.
unsafe fn push_readonly_proxy(l: *mut lua_State, idx: c_int) {
    unsafe {
        let idx = if idx < 0 {
            ffi::lua_gettop(l) + idx + 1
        } else {
            idx
        };
        ffi::lua_createtable(l, 0, 0);
        ffi::lua_createtable(l, 0, 3);
        ffi::lua_pushvalue(l, idx);
        ffi::lua_setfield(l, -2, c"__index".as_ptr());
        ffi::lua_pushcfunction(l, readonly_newindex);
        ffi::lua_setfield(l, -2, c"__newindex".as_ptr());
        // What `getmetatable(proxy)` returns: a read-only view of the metatable, so a
        // script can neither rewire the proxy nor learn anything it could not read.
        push_readonly_view(l, -1);
        ffi::lua_setfield(l, -2, c"__metatable".as_ptr());
        ffi::lua_setmetatable(l, -2);
        protect(l, -1);
    }
}

/// Pushes an empty, protected table that reads through to the table at `idx`, refuses
/// writes, and has no metatable a script can get at.
unsafe fn push_readonly_view(l: *mut lua_State, idx: c_int) {
    unsafe {
        let idx = if idx < 0 {
            ffi::lua_gettop(l) + idx + 1
        } else {
            idx
        };
        ffi::lua_createtable(l, 0, 0);
        ffi::lua_createtable(l, 0, 3);
        ffi::lua_pushvalue(l, idx);
        ffi::lua_setfield(l, -2, c"__index".as_ptr());
        ffi::lua_pushcfunction(l, readonly_newindex);
        ffi::lua_setfield(l, -2, c"__newindex".as_ptr());
        ffi::lua_pushboolean(l, 0);
        ffi::lua_setfield(l, -2, c"__metatable".as_ptr());
        ffi::lua_setmetatable(l, -2);
        protect(l, -1);
    }
}

/// Raises `msg` as a Lua error, with the position of the calling Lua code when `where_`.
/// Nothing with a destructor may be alive in the caller's frame (the raise unwinds
/// through it with longjmp).
unsafe fn raise_string(l: *mut lua_State, msg: &[u8], where_: bool) -> ! {
    unsafe {
        if where_ {
            ffi::luaL_where(l, 1);
            convert::push_bytes(l, msg);
            ffi::lua_concat(l, 2);
        } else {
            convert::push_bytes(l, msg);
        }
        ffi::lua_error(l)
    }
}

/// Raises Redis's error table `{err="ERR msg"}` (luaPushError then luaError).
unsafe fn raise_table(l: *mut lua_State, msg: &[u8]) -> ! {
    unsafe {
        convert::push_error_table(l, msg);
        ffi::lua_error(l)
    }
}

/// The count hook of a running script: lets the host answer other clients past the busy
/// threshold, and stops the script when SCRIPT KILL asked (re-armed on every line, so a
/// `pcall` in the script cannot swallow the error and go on).
unsafe extern "C-unwind" fn busy_hook(l: *mut lua_State, _ar: *mut ffi::lua_Debug) {
    let kill = host().is_some_and(|h| h.interrupt());
    if kill {
        log::warn!("Lua script killed by user with SCRIPT KILL.");
        unsafe {
            ffi::lua_sethook(l, Some(busy_hook), ffi::LUA_MASKLINE, 0);
            raise_table(l, b"Script killed by user with SCRIPT KILL...");
        }
    }
}

/// `__newindex` of read-only tables.
unsafe extern "C-unwind" fn readonly_newindex(l: *mut lua_State) -> c_int {
    unsafe { raise_string(l, b"Attempt to modify a readonly table", true) }
}

/// `__index` of the real globals: a name that does not exist.
unsafe extern "C-unwind" fn missing_global(l: *mut lua_State) -> c_int {
    unsafe {
        ffi::luaL_where(l, 1);
        convert::push_bytes(
            l,
            b"Script attempted to access nonexistent global variable '",
        );
        if ffi::lua_isstring(l, 2) != 0 {
            ffi::lua_pushvalue(l, 2);
            convert::push_bytes(l, b"'");
            ffi::lua_concat(l, 4);
        } else {
            // A key that is neither a string nor a number: Redis's handler refuses it.
            ffi::lua_pop(l, 1);
            convert::push_bytes(
                l,
                b"Second argument to luaProtectedTableError must be a string or number",
            );
            ffi::lua_concat(l, 2);
        }
        ffi::lua_error(l)
    }
}

/// `rawset` that refuses the protected tables, as Redis's read-only tables do.
unsafe extern "C-unwind" fn guarded_rawset(l: *mut lua_State) -> c_int {
    unsafe {
        ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
        ffi::luaL_checkany(l, 2);
        ffi::luaL_checkany(l, 3);
        let protected = is_protected(l, 1);
        if protected {
            raise_string(l, b"Attempt to modify a readonly table", false);
        }
        ffi::lua_settop(l, 3);
        ffi::lua_rawset(l, 1);
        1
    }
}

/// `setmetatable` that refuses the protected tables, as Redis's read-only tables do (the
/// original is the closure's upvalue).
unsafe extern "C-unwind" fn guarded_setmetatable(l: *mut lua_State) -> c_int {
    unsafe {
        if ffi::lua_type(l, 1) == ffi::LUA_TTABLE && is_protected(l, 1) {
            raise_string(l, b"Attempt to modify a readonly table", false);
        }
        let argc = ffi::lua_gettop(l);
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
        ffi::lua_insert(l, 1);
        ffi::lua_call(l, argc, 1);
        1
    }
}

/// `loadstring` that reads every chunk as source text, as Redis's Lua does: precompiled
/// (binary) chunks could crash the interpreter, and fail to parse instead.
unsafe extern "C-unwind" fn text_loadstring(l: *mut lua_State) -> c_int {
    unsafe {
        let mut len = 0usize;
        let s = ffi::luaL_checklstring(l, 1, &mut len);
        let name = ffi::luaL_optlstring(l, 2, s, std::ptr::null_mut());
        let code = std::slice::from_raw_parts(s.cast::<u8>(), len);
        let status = with_text_chunk(code, |c| {
            ffi::luaL_loadbuffer(l, c.as_ptr().cast(), c.len(), name)
        });
        if status == 0 {
            1
        } else {
            ffi::lua_pushnil(l);
            ffi::lua_insert(l, -2);
            2
        }
    }
}

/// Calls `f` with `code`, or with `code` after a space when it starts like a precompiled
/// chunk: the parser then reads it as text (and refuses it), and line numbers do not move.
fn with_text_chunk<R>(code: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    if code.first() == Some(&0x1b) {
        let mut text = Vec::with_capacity(code.len() + 1);
        text.push(b' ');
        text.extend_from_slice(code);
        f(&text)
    } else {
        f(code)
    }
}

/// `rawget` that reads a read-only proxy's table (its contents live behind it), so
/// `rawget(_G, 'redis')` finds what it finds in Redis.
unsafe extern "C-unwind" fn proxied_rawget(l: *mut lua_State) -> c_int {
    unsafe {
        ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
        ffi::luaL_checkany(l, 2);
        ffi::lua_settop(l, 2);
        let protected = is_protected(l, 1);
        if protected && ffi::lua_getmetatable(l, 1) != 0 {
            ffi::lua_getfield(l, -1, c"__index".as_ptr());
            if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
                ffi::lua_replace(l, 1);
            } else {
                ffi::lua_pop(l, 1);
            }
            ffi::lua_pop(l, 1);
        }
        ffi::lua_settop(l, 2);
        ffi::lua_rawget(l, 1);
        1
    }
}

/// Redis's global `pcall`: an error raised as a table comes back as its `err` string, as
/// scripts written for older versions expect.
unsafe extern "C-unwind" fn redis_pcall(l: *mut lua_State) -> c_int {
    unsafe {
        let argc = ffi::lua_gettop(l);
        ffi::luaL_checkany(l, 1);
        ffi::lua_pushboolean(l, 1);
        ffi::lua_insert(l, 1);
        if ffi::lua_pcall(l, argc - 1, ffi::LUA_MULTRET, 0) != 0 {
            ffi::lua_remove(l, 1);
            if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
                ffi::lua_getfield(l, -1, c"err".as_ptr());
                if ffi::lua_isstring(l, -1) != 0 {
                    ffi::lua_replace(l, -2);
                } else {
                    ffi::lua_pop(l, 1);
                }
            }
            ffi::lua_pushboolean(l, 0);
            ffi::lua_insert(l, 1);
        }
        ffi::lua_gettop(l)
    }
}

/// The arguments of a `redis.call`: strings, and numbers as `%.17g` (Lua's own formatting
/// loses precision).
unsafe fn call_args(l: *mut lua_State) -> Result<Vec<Vec<u8>>, &'static [u8]> {
    unsafe {
        let argc = ffi::lua_gettop(l);
        if argc == 0 {
            return Err(b"Please specify at least one argument for this redis lib call");
        }
        let mut argv = Vec::with_capacity(argc as usize);
        for i in 1..=argc {
            if ffi::lua_type(l, i) == ffi::LUA_TNUMBER {
                let n = ffi::lua_tonumber(l, i);
                argv.push(crate::util::fmt_double(n).into_bytes());
            } else if let Some(s) = convert::to_bytes(l, i) {
                argv.push(s.to_vec());
            } else {
                return Err(b"Lua redis lib command arguments must be strings or integers");
            }
        }
        ffi::lua_settop(l, 0);
        Ok(argv)
    }
}

/// What a `redis.call` ended with, decided before anything is pushed.
enum Outcome {
    /// The reply was pushed.
    Pushed,
    /// Raise the error table on top of the stack.
    Raise,
}

/// `redis.call` (raise) and `redis.pcall` (return the error table).
unsafe fn generic_call(l: *mut lua_State, raise: bool) -> c_int {
    let outcome = unsafe {
        let Some(host) = host() else {
            raise_table(
                l,
                b"redis.call/pcall can only be called inside a script invocation",
            );
        };
        match call_args(l) {
            Err(msg) => {
                convert::push_error_table(l, msg);
                if raise {
                    Outcome::Raise
                } else {
                    Outcome::Pushed
                }
            }
            Ok(argv) => match host.call(&argv) {
                Err(msg) => {
                    convert::push_error_table(l, msg.as_bytes());
                    ffi::lua_pushboolean(l, 1);
                    ffi::lua_setfield(l, -2, c"ignore_error_stats_update".as_ptr());
                    if raise {
                        Outcome::Raise
                    } else {
                        Outcome::Pushed
                    }
                }
                Ok(reply) => {
                    let is_error = reply.first() == Some(&b'-');
                    convert::push_reply(l, reply, 0);
                    if raise && is_error {
                        Outcome::Raise
                    } else {
                        Outcome::Pushed
                    }
                }
            },
        }
    };
    match outcome {
        Outcome::Pushed => 1,
        // SAFETY: every Rust value of this frame is gone; the error table is on top.
        Outcome::Raise => unsafe { ffi::lua_error(l) },
    }
}

unsafe extern "C-unwind" fn redis_call(l: *mut lua_State) -> c_int {
    unsafe { generic_call(l, true) }
}

unsafe extern "C-unwind" fn redis_pcall_command(l: *mut lua_State) -> c_int {
    unsafe { generic_call(l, false) }
}

unsafe extern "C-unwind" fn redis_sha1hex(l: *mut lua_State) -> c_int {
    unsafe {
        if ffi::lua_gettop(l) != 1 {
            raise_table(l, b"wrong number of arguments");
        }
        let digest = sha1::sha1_hex(convert::to_bytes(l, 1).unwrap_or_default());
        convert::push_bytes(l, digest.as_bytes());
        1
    }
}

unsafe extern "C-unwind" fn redis_error_reply(l: *mut lua_State) -> c_int {
    unsafe {
        if ffi::lua_gettop(l) != 1 || ffi::lua_type(l, -1) != ffi::LUA_TSTRING {
            convert::push_error_table(l, b"wrong number or type of arguments");
            return 1;
        }
        let e = convert::to_bytes(l, -1).unwrap_or_default();
        let mut with_dash = Vec::with_capacity(e.len() + 1);
        if e.first() != Some(&b'-') {
            with_dash.push(b'-');
        }
        with_dash.extend_from_slice(e);
        convert::push_error_table(l, &with_dash);
        1
    }
}

unsafe extern "C-unwind" fn redis_status_reply(l: *mut lua_State) -> c_int {
    unsafe {
        if ffi::lua_gettop(l) != 1 || ffi::lua_type(l, -1) != ffi::LUA_TSTRING {
            convert::push_error_table(l, b"wrong number or type of arguments");
            return 1;
        }
        ffi::lua_createtable(l, 0, 1);
        ffi::lua_pushvalue(l, -2);
        ffi::lua_setfield(l, -2, c"ok".as_ptr());
        1
    }
}

unsafe extern "C-unwind" fn redis_log(l: *mut lua_State) -> c_int {
    unsafe {
        let argc = ffi::lua_gettop(l);
        if argc < 2 {
            raise_table(l, b"redis.log() requires two arguments or more.");
        }
        if ffi::lua_isnumber(l, 1) == 0 {
            raise_table(l, b"First argument must be a number (log level).");
        }
        let level = ffi::lua_tonumber(l, 1) as i32;
        if !(0..=3).contains(&level) {
            raise_table(l, b"Invalid debug level.");
        }
        let verbosity = host().map_or(2, |h| h.verbosity());
        if level < verbosity {
            return 0;
        }
        let mut line = Vec::new();
        for i in 2..=argc {
            if let Some(s) = convert::to_bytes(l, i) {
                if i != 2 {
                    line.push(b' ');
                }
                line.extend_from_slice(s);
            }
        }
        let text = String::from_utf8_lossy(&line);
        match level {
            0 => log::debug!("{text}"),
            1 => log::debug!("{text}"),
            2 => log::info!("{text}"),
            _ => log::warn!("{text}"),
        }
        0
    }
}

unsafe extern "C-unwind" fn redis_setresp(l: *mut lua_State) -> c_int {
    unsafe {
        let Some(host) = host() else {
            raise_table(
                l,
                b"redis.setresp can only be called inside a script invocation",
            );
        };
        if ffi::lua_gettop(l) != 1 {
            raise_table(l, b"redis.setresp() requires one argument.");
        }
        let resp = ffi::lua_tonumber(l, 1) as i32;
        if resp != 2 && resp != 3 {
            raise_table(l, b"RESP version must be 2 or 3.");
        }
        host.set_resp3(resp == 3);
        0
    }
}

unsafe extern "C-unwind" fn redis_set_repl(l: *mut lua_State) -> c_int {
    unsafe {
        if host().is_none() {
            raise_table(
                l,
                b"redis.set_repl can only be called inside a script invocation",
            );
        }
        if ffi::lua_gettop(l) != 1 {
            raise_table(l, b"redis.set_repl() requires two arguments.");
        }
        let flags = ffi::lua_tonumber(l, -1) as i64;
        if flags & !3 != 0 {
            raise_table(
                l,
                b"Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
            );
        }
        // Without replication or an AOF there is nothing to route.
        0
    }
}

/// `redis.replicate_commands()`: always true since Redis 7 (scripts replicate effects).
unsafe extern "C-unwind" fn redis_replicate_commands(l: *mut lua_State) -> c_int {
    unsafe {
        ffi::lua_pushboolean(l, 1);
        1
    }
}

/// `redis.breakpoint()`: false, as in Redis when no debugging session is active.
unsafe extern "C-unwind" fn redis_breakpoint(l: *mut lua_State) -> c_int {
    unsafe {
        ffi::lua_pushboolean(l, 0);
        1
    }
}

/// `redis.debug(...)`: does nothing outside a debugging session, as in Redis.
unsafe extern "C-unwind" fn redis_debug(_l: *mut lua_State) -> c_int {
    0
}

unsafe extern "C-unwind" fn redis_acl_check_cmd(l: *mut lua_State) -> c_int {
    let found = unsafe {
        let Some(host) = host() else {
            raise_table(
                l,
                b"redis.acl_check_cmd can only be called inside a script invocation",
            );
        };
        match call_args(l) {
            Err(msg) => {
                convert::push_error_table(l, msg);
                None
            }
            Ok(argv) => Some(host.command_exists(&argv)),
        }
    };
    unsafe {
        match found {
            None => ffi::lua_error(l),
            Some(false) => raise_table(l, b"Invalid command passed to redis.acl_check_cmd()"),
            Some(true) => {
                // The only user there is may run every command.
                ffi::lua_pushboolean(l, 1);
                1
            }
        }
    }
}

unsafe extern "C-unwind" fn math_random(l: *mut lua_State) -> c_int {
    unsafe {
        if host().is_none() {
            raise_string(
                l,
                b"math.random can only be called inside a script invocation",
                true,
            );
        }
        let max = i32::MAX;
        let r = f64::from(lrand48() % max) / f64::from(max);
        match ffi::lua_gettop(l) {
            0 => ffi::lua_pushnumber(l, r),
            1 => {
                let u = ffi::luaL_checkinteger(l, 1) as i32;
                if u < 1 {
                    ffi::luaL_argerror(l, 1, c"interval is empty".as_ptr());
                }
                ffi::lua_pushnumber(l, (r * f64::from(u)).floor() + 1.0);
            }
            2 => {
                let lo = ffi::luaL_checkinteger(l, 1) as i32;
                let up = ffi::luaL_checkinteger(l, 2) as i32;
                if lo > up {
                    ffi::luaL_argerror(l, 2, c"interval is empty".as_ptr());
                }
                ffi::lua_pushnumber(
                    l,
                    (r * (f64::from(up) - f64::from(lo) + 1.0)).floor() + f64::from(lo),
                );
            }
            _ => raise_string(l, b"wrong number of arguments", true),
        }
        1
    }
}

unsafe extern "C-unwind" fn math_randomseed(l: *mut lua_State) -> c_int {
    unsafe {
        if host().is_none() {
            raise_string(
                l,
                b"math.randomseed can only be called inside a script invocation",
                true,
            );
        }
        srand48(ffi::luaL_checkinteger(l, 1) as i32);
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        assert_eq!(shebang_flags(b"return 1"), Ok((flags::EVAL_COMPAT, 0)));
        assert_eq!(
            shebang_flags(b"#!lua flags=no-writes,allow-oom\nreturn 1"),
            Ok((flags::NO_WRITES | flags::ALLOW_OOM, 31))
        );
        assert_eq!(shebang_flags(b"#!lua\nreturn 1"), Ok((0, 5)));
        assert_eq!(
            shebang_flags(b"#!python\n"),
            Err("ERR Unexpected engine in script shebang: #!python".into())
        );
        assert_eq!(
            shebang_flags(b"#!lua foo=bar\n"),
            Err("ERR Unknown lua shebang option: foo=bar".into())
        );
        assert_eq!(
            shebang_flags(b"#!lua flags=nope\n"),
            Err("ERR Unexpected flag in script shebang: nope".into())
        );
        assert_eq!(
            shebang_flags(b"#!lua"),
            Err("ERR Invalid script shebang".into())
        );
    }

    #[test]
    fn lrand48_is_deterministic_from_a_seed() {
        srand48(7);
        let a: Vec<i32> = (0..5).map(|_| lrand48()).collect();
        srand48(7);
        let b: Vec<i32> = (0..5).map(|_| lrand48()).collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|&v| v >= 0));
    }
}
