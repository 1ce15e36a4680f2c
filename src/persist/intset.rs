//! Reading Redis intsets (intset.c), the packed form of small all-integer sets in an RDB
//! file: the width of every member (u32: 2, 4 or 8 bytes), the member count (u32), then
//! the members, sorted ascending, all little-endian. Decoding only.

/// Header bytes: width and count.
const HEADER: usize = 8;

/// The members of the intset `is`, checked as Redis's deep intsetValidateIntegrity does:
/// a known width, a size that is exactly the header and the members, at least one member,
/// and members strictly ascending (no duplicates).
pub fn intset_members(is: &[u8]) -> Result<Vec<i64>, &'static str> {
    if is.len() < HEADER {
        return Err("intset shorter than its header");
    }
    let width = u32::from_le_bytes([is[0], is[1], is[2], is[3]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err("intset of an unknown width");
    }
    let count = u32::from_le_bytes([is[4], is[5], is[6], is[7]]) as usize;
    let body = &is[HEADER..];
    if count.checked_mul(width) != Some(body.len()) {
        return Err("intset size disagrees with its count");
    }
    if count == 0 {
        return Err("empty intset");
    }
    let members: Vec<i64> = body
        .chunks_exact(width)
        .map(|c| match width {
            2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
            4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        })
        .collect();
    if members.windows(2).any(|w| w[0] >= w[1]) {
        return Err("intset members out of order or repeated");
    }
    Ok(members)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Encodes `members` (sorted) at `width` bytes each (tests only).
    pub(crate) fn build(width: u32, members: &[i64]) -> Vec<u8> {
        let mut is = width.to_le_bytes().to_vec();
        is.extend_from_slice(&(members.len() as u32).to_le_bytes());
        for &m in members {
            is.extend_from_slice(&m.to_le_bytes()[..width as usize]);
        }
        is
    }

    #[test]
    fn decodes_each_width() {
        assert_eq!(
            intset_members(&build(2, &[-3, 1, 300])).unwrap(),
            [-3, 1, 300]
        );
        assert_eq!(
            intset_members(&build(4, &[-70000, 70000])).unwrap(),
            [-70000, 70000]
        );
        assert_eq!(
            intset_members(&build(8, &[i64::MIN, i64::MAX])).unwrap(),
            [i64::MIN, i64::MAX]
        );
    }

    #[test]
    fn malformed_intsets_are_refused() {
        assert!(intset_members(&build(2, &[])).is_err(), "empty");
        assert!(intset_members(&build(2, &[2, 1])).is_err(), "order");
        assert!(intset_members(&build(2, &[1, 1])).is_err(), "duplicate");
        assert!(intset_members(&build(3, &[1])).is_err(), "width");
        let mut huge = build(8, &[1]);
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(intset_members(&huge).is_err(), "claimed count");
        let is = build(4, &[1, 2, 3]);
        for cut in 0..is.len() {
            assert!(intset_members(&is[..cut]).is_err(), "cut at {cut}");
        }
    }
}
