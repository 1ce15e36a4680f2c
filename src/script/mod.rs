//! The Lua 5.1 engine behind EVAL and FCALL (Redis's eval.c, script_lua.c): one Lua state
//! for the server, created on the first script, with Redis's bundled libraries and sandbox.

pub mod libs;
