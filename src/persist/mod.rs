//! Redis's on-disk formats: RDB lengths and strings ([`rdb`]), the CRC64 that seals files
//! and payloads ([`crc64`]), LZF ([`lzf`]), the packed encodings inside RDB values
//! ([`listpack`], [`listpack_writer`], [`ziplist`], [`intset`]), writing and reading whole
//! values and files ([`save`], [`load`]), an append-only file's base in commands
//! ([`rewrite`]), and snapshots taken without fork ([`snapshot`]).

pub mod aof;
pub mod crc64;
pub mod intset;
pub mod listpack;
pub mod listpack_writer;
pub mod load;
pub mod lzf;
pub mod rdb;
pub mod rewrite;
pub mod save;
pub mod snapshot;
pub mod ziplist;
