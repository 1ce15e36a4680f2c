//! Not written yet: `open` registers nothing.

/// Registers nothing yet.
pub fn open(_lua: &mlua::Lua) -> mlua::Result<()> {
    Ok(())
}
