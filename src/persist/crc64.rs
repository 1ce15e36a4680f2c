//! CRC-64 with the Jones polynomial (0xad93d23594c935a9), reflected in and out, initial
//! value 0, no final xor: the checksum that ends RDB files and DUMP payloads.

/// The Jones polynomial, as Redis's crc64.c names it.
const POLY: u64 = 0xad93_d235_94c9_35a9;

/// The byte-at-a-time table of the reflected polynomial, built at compile time.
const TABLE: [u64; 256] = {
    let reflected = POLY.reverse_bits();
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ reflected
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// Continues checksum `crc` over `data` (start with 0).
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    for &b in data {
        crc = TABLE[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::crc64;

    #[test]
    fn check_values_of_redis_crc64_c() {
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        let lorem = b"This is a test of the emergency broadcast system.";
        // Incremental use gives the same result as one pass.
        let (a, b) = lorem.split_at(10);
        assert_eq!(crc64(crc64(0, a), b), crc64(0, lorem));
    }
}
