//! Redis's on-disk formats. For now the pieces FUNCTION DUMP / RESTORE need: RDB string
//! and length encodings ([`rdb`]), the CRC64 that seals a payload ([`crc64`]) and LZF
//! decompression of compressed strings ([`lzf`]). Snapshots and the AOF build on these.

pub mod crc64;
pub mod intset;
pub mod listpack;
pub mod load;
pub mod lzf;
pub mod rdb;
pub mod ziplist;
