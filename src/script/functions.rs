//! The function libraries (Redis's functions.c): which libraries are loaded, the functions
//! they registered, and the operations FUNCTION LOAD, DELETE, FLUSH and RESTORE make on
//! them, each all-or-nothing. The Lua state behind them is an [`Engine`] of its own,
//! created by the first library.
//!
//! Library names are case-sensitive; function names are looked up case-insensitively by
//! FCALL and must be unique across libraries, as in Redis.

use std::collections::{BTreeMap, HashMap};
use std::ffi::c_int;
use std::time::Duration;

use super::Engine;
use super::library::{Registered, valid_name};

/// FUNCTION LOAD's time limit for running a library's code.
pub const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

/// The one engine Redis 7.0 has.
pub const ENGINE_NAME: &str = "LUA";

/// A loaded library.
#[derive(Debug)]
pub struct Library {
    /// From `#!lua name=...`.
    pub name: Vec<u8>,
    /// The whole payload, shebang included (FUNCTION LIST WITHCODE, FUNCTION DUMP).
    pub code: Vec<u8>,
    /// Its functions, in registration order.
    pub functions: Vec<Registered>,
}

/// A set of libraries and the index of their functions (Redis's functionsLibCtx).
#[derive(Debug, Default)]
pub struct Libraries {
    /// By name, in name order (FUNCTION LIST, DUMP).
    libraries: BTreeMap<Vec<u8>, Library>,
    /// Lower-cased function name -> (library name, exact function name).
    functions: HashMap<Vec<u8>, (Vec<u8>, Vec<u8>)>,
}

impl Libraries {
    /// The libraries, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    /// Number of libraries.
    pub fn len(&self) -> usize {
        self.libraries.len()
    }

    /// True when none is loaded.
    pub fn is_empty(&self) -> bool {
        self.libraries.is_empty()
    }

    /// Number of functions across all libraries.
    pub fn function_count(&self) -> usize {
        self.functions.len()
    }

    /// The function FCALL names (any case).
    pub fn function(&self, name: &[u8]) -> Option<&Registered> {
        let (lib, exact) = self.functions.get(&name.to_ascii_lowercase())?;
        self.libraries
            .get(lib)?
            .functions
            .iter()
            .find(|f| &f.name == exact)
    }

    /// Bytes of library code (INFO used_memory_functions counts these).
    pub fn code_bytes(&self) -> usize {
        self.libraries.values().map(|l| l.code.len()).sum()
    }

    fn link(&mut self, lib: Library) {
        for f in &lib.functions {
            self.functions
                .entry(f.name.to_ascii_lowercase())
                .or_insert_with(|| (lib.name.clone(), f.name.clone()));
        }
        self.libraries.insert(lib.name.clone(), lib);
    }

    fn unlink(&mut self, name: &[u8]) -> Option<Library> {
        let lib = self.libraries.remove(name)?;
        for f in &lib.functions {
            let key = f.name.to_ascii_lowercase();
            if self
                .functions
                .get(&key)
                .is_some_and(|(l, _)| *l == lib.name)
            {
                self.functions.remove(&key);
            }
        }
        Some(lib)
    }

    /// The first of `lib`'s functions whose name another library already has.
    fn collision<'a>(&self, lib: &'a Library) -> Option<&'a [u8]> {
        lib.functions
            .iter()
            .find(|f| self.functions.contains_key(&f.name.to_ascii_lowercase()))
            .map(|f| &f.name[..])
    }

    /// Loads a library from its payload (Redis's functionsCreateWithLibraryCtx); returns
    /// its name, or the error text (without `ERR `).
    pub fn create(
        &mut self,
        engine: &mut Engine,
        payload: &[u8],
        replace: bool,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, String> {
        let (engine_name, name, code) = parse_metadata(payload)?;
        if !valid_name(&name) {
            return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
        }
        if !engine_name.eq_ignore_ascii_case(ENGINE_NAME.as_bytes()) {
            return Err(format!(
                "Engine '{}' not found",
                String::from_utf8_lossy(&engine_name)
            ));
        }
        if self.libraries.contains_key(&name) && !replace {
            return Err(format!(
                "Library '{}' already exists",
                String::from_utf8_lossy(&name)
            ));
        }
        // The old library steps aside while the new one is checked, and comes back if the
        // new one is refused.
        let old = self.unlink(&name);
        let refused = match engine.load_library(code, timeout) {
            Err(e) => Err((e, Vec::new())),
            Ok(functions) if functions.is_empty() => {
                Err(("No functions registered".to_string(), functions))
            }
            Ok(functions) => {
                let lib = Library {
                    name: name.clone(),
                    code: payload.to_vec(),
                    functions,
                };
                match self.collision(&lib) {
                    Some(f) => Err((
                        format!("Function {} already exists", String::from_utf8_lossy(f)),
                        lib.functions,
                    )),
                    None => {
                        self.link(lib);
                        Ok(())
                    }
                }
            }
        };
        match refused {
            Ok(()) => {
                if let Some(old) = old {
                    free(engine, old);
                }
                Ok(name)
            }
            Err((e, functions)) => {
                for f in functions {
                    engine.release(f.func);
                }
                if let Some(old) = old {
                    self.link(old);
                }
                Err(e)
            }
        }
    }

    /// FUNCTION DELETE: false when there is no such library.
    pub fn delete(&mut self, engine: &mut Engine, name: &[u8]) -> bool {
        match self.unlink(name) {
            Some(lib) => {
                free(engine, lib);
                true
            }
            None => false,
        }
    }

    /// Removes every library.
    pub fn clear(&mut self, engine: &mut Engine) {
        let names: Vec<Vec<u8>> = self.libraries.keys().cloned().collect();
        for name in names {
            self.delete(engine, &name);
        }
    }

    /// Moves `other`'s libraries in (Redis's libraryJoin): a library with the same name
    /// is an error, or is replaced with `replace`; a function name clash is always an
    /// error. All or nothing: on error both sets are as they were.
    pub fn join(
        &mut self,
        engine: &mut Engine,
        mut other: Libraries,
        replace: bool,
    ) -> Result<(), (String, Libraries)> {
        let mut replaced = Vec::new();
        for name in other.libraries.keys() {
            if self.libraries.contains_key(name) {
                if !replace {
                    let e = format!("Library {} already exists", String::from_utf8_lossy(name));
                    return Err((e, other));
                }
                replaced.extend(self.unlink(name));
            }
        }
        let clash = other
            .libraries
            .values()
            .find_map(|lib| self.collision(lib).map(<[u8]>::to_vec));
        if let Some(f) = clash {
            for lib in replaced {
                self.link(lib);
            }
            let e = format!("Function {} already exists", String::from_utf8_lossy(&f));
            return Err((e, other));
        }
        for (_, lib) in std::mem::take(&mut other.libraries) {
            self.link(lib);
        }
        for lib in replaced {
            free(engine, lib);
        }
        Ok(())
    }

    /// Each library as `FUNCTION LOAD code`, for an append-only file's base in commands.
    pub fn load_commands(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for lib in self.libraries.values() {
            crate::persist::rewrite::function_load(&mut out, &lib.code);
        }
        out
    }

    /// FUNCTION DUMP's body: each library's code as an RDB FUNCTION2 record.
    pub fn dump(&self) -> Vec<u8> {
        use crate::persist::rdb;
        let mut out = Vec::new();
        for lib in self.libraries.values() {
            out.push(rdb::OPCODE_FUNCTION2);
            rdb::save_string(&mut out, &lib.code);
        }
        out
    }
}

/// Frees a library's functions in the engine.
fn free(engine: &mut Engine, lib: Library) {
    for f in lib.functions {
        engine.release(f.func);
    }
}

/// A library payload's parts: engine name, library name, and the code.
pub type Metadata<'a> = (Vec<u8>, Vec<u8>, &'a [u8]);

/// Splits a payload's first line, `#!<engine> name=<name>` (Redis's
/// functionExtractLibMetaData): the engine, the name, and the code after the shebang (its
/// line feed kept, so line numbers match the payload's).
pub fn parse_metadata(payload: &[u8]) -> Result<Metadata<'_>, String> {
    if !payload.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    // Redis reads the payload as a C string: the line ends at a NUL byte too.
    let Some(end) = payload
        .iter()
        .take_while(|&&b| b != 0)
        .position(|&b| b == b'\n')
    else {
        return Err("Invalid library metadata".into());
    };
    let parts = match crate::resp::split_line(&payload[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = parts[0].get(2..).unwrap_or_default().to_vec();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(part[5..].to_vec());
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    Ok((engine, name, &payload[end..]))
}

/// Reads a library of the older FUNCTION record of Redis 7.0's release candidates (name,
/// engine, an optional description, the code; the opcode already read) and makes it the
/// code with its shebang line, as Redis does. Errors are Redis's.
pub fn read_old_function(r: &mut crate::persist::rdb::Reader) -> Result<Vec<u8>, String> {
    let Some(name) = r.string() else {
        return Err("Failed loading library name".into());
    };
    let Some(engine) = r.string() else {
        return Err("Failed loading engine name".into());
    };
    let Some(has_desc) = r.length() else {
        return Err("Failed loading library description indicator".into());
    };
    if has_desc != 0 && r.string().is_none() {
        return Err("Failed loading library description".into());
    }
    let Some(code) = r.string() else {
        return Err("Failed loading library blob".into());
    };
    let mut p = b"#!".to_vec();
    p.extend_from_slice(&engine);
    p.extend_from_slice(b" name=");
    p.extend_from_slice(&name);
    p.push(b'\n');
    p.extend_from_slice(&code);
    Ok(p)
}

/// Parses a FUNCTION RESTORE payload (its footer checked) into the library payloads it
/// holds, in order. As in Redis, records are read while more than the footer's 10 bytes
/// remain, and a record may run into the footer.
pub fn parse_dump(payload: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use crate::persist::rdb::{self, Reader};
    let mut r = Reader::new(payload);
    let mut payloads = Vec::new();
    while r.remaining() > 10 {
        let Some(kind) = r.byte() else {
            return Err("can not read data type".into());
        };
        match kind {
            rdb::OPCODE_FUNCTION2 => match r.string() {
                Some(p) => payloads.push(p),
                None => return Err("Failed loading library payload".into()),
            },
            rdb::OPCODE_FUNCTION => payloads.push(read_old_function(&mut r)?),
            _ => return Err("given type is not a function".into()),
        }
    }
    Ok(payloads)
}

/// The registry behind FUNCTION and FCALL: the current libraries and their engine.
#[derive(Debug, Default)]
pub struct Functions {
    engine: Option<Box<Engine>>,
    /// The loaded libraries.
    pub libraries: Libraries,
}

impl Functions {
    /// The engine (created on first use) and the libraries at once.
    pub fn parts(&mut self) -> Result<(&mut Engine, &mut Libraries), String> {
        if self.engine.is_none() {
            self.engine = Some(Box::new(Engine::new_for_functions()?));
        }
        let engine = self.engine.as_mut().expect("just created");
        Ok((engine, &mut self.libraries))
    }

    /// Takes the engine out while a function runs (the host needs `Shared`, which holds
    /// this registry); [`Functions::put_back`] returns it.
    pub fn take_engine(&mut self) -> Option<Box<Engine>> {
        self.engine.take()
    }

    /// Returns the engine taken by [`Functions::take_engine`].
    pub fn put_back(&mut self, engine: Box<Engine>) {
        self.engine = Some(engine);
    }

    /// Lua memory of the functions engine (INFO used_memory_vm_functions).
    pub fn lua_memory(&self) -> usize {
        self.engine.as_ref().map_or(0, |e| e.memory().0)
    }

    /// The registry reference and flags of function `name`.
    pub fn lookup(&self, name: &[u8]) -> Option<(c_int, u32, Vec<u8>)> {
        self.libraries
            .function(name)
            .map(|f| (f.func, f.flags, f.name.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata() {
        let (e, n, code) = parse_metadata(b"#!lua name=mylib\nreturn 1").unwrap();
        assert_eq!(
            (&e[..], &n[..], code),
            (&b"lua"[..], &b"mylib"[..], &b"\nreturn 1"[..])
        );
        assert_eq!(
            parse_metadata(b"return 1").unwrap_err(),
            "Missing library metadata"
        );
        assert_eq!(
            parse_metadata(b"#!lua name=x").unwrap_err(),
            "Invalid library metadata"
        );
        assert_eq!(
            parse_metadata(b"#!lua\n").unwrap_err(),
            "Library name was not given"
        );
        assert_eq!(
            parse_metadata(b"#!lua name=a name=b\n").unwrap_err(),
            "Invalid metadata value, name argument was given multiple times"
        );
        assert_eq!(
            parse_metadata(b"#!lua foo=bar\n").unwrap_err(),
            "Invalid metadata value given: foo=bar"
        );
        assert_eq!(
            parse_metadata(b"#!lua \"name=x\n").unwrap_err(),
            "Invalid library metadata"
        );
    }

    #[test]
    fn dump_parsing_refuses_garbage() {
        let footer = [0u8; 10];
        let with_footer = |body: &[u8]| [body, &footer].concat();
        assert_eq!(
            parse_dump(&with_footer(&[1, 2, 3])).unwrap_err(),
            "given type is not a function"
        );
        assert_eq!(
            parse_dump(&with_footer(&[crate::persist::rdb::OPCODE_FUNCTION2, 0x85])).unwrap_err(),
            "Failed loading library payload"
        );
        let mut body = vec![crate::persist::rdb::OPCODE_FUNCTION];
        for s in [&b"lib"[..], b"LUA"] {
            crate::persist::rdb::save_string(&mut body, s);
        }
        crate::persist::rdb::save_len(&mut body, 0);
        crate::persist::rdb::save_string(&mut body, b"return 1");
        assert_eq!(
            parse_dump(&with_footer(&body)).unwrap(),
            vec![b"#!LUA name=lib\nreturn 1".to_vec()]
        );
    }
}
