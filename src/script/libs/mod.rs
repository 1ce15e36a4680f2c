//! The libraries Redis bundles into its Lua: cjson, cmsgpack, bit (LuaBitOp) and struct.
//! Each `open` registers its global table in a Lua state.
