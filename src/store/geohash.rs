//! Redis's geohash (geohash.c, geohash_helper.c): the 52-bit interleaved hash a geo set
//! stores as a sorted-set score, its decoding back to a cell centre, the 9 cells that cover
//! a search area, and the distance formula. Every step is done in the same order, with the
//! same double operations and the same libm calls (`sin`, `cos`, `asin`, glibc's on Linux)
//! as the C code, so scores, positions and distances match Redis to the last digit, its
//! quirks included (the search cells are estimated, then checked, as Redis does).
//!
//! Longitude bits sit at the odd positions of the hash and latitude bits at the even ones;
//! latitudes are limited to the Web Mercator range (±85.05112878), longitudes to ±180.

/// Bits per coordinate in a stored hash (26 * 2 = 52 bits, a double holds them exactly).
pub const STEP_MAX: u8 = 26;
/// Southmost latitude Redis accepts (EPSG:900913 / EPSG:3785).
pub const LAT_MIN: f64 = -85.05112878;
/// Northmost latitude Redis accepts.
pub const LAT_MAX: f64 = 85.05112878;
/// Westmost longitude.
pub const LON_MIN: f64 = -180.0;
/// Eastmost longitude.
pub const LON_MAX: f64 = 180.0;

/// Earth's quadratic mean radius for WGS-84, as Redis has it.
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
/// Half the Web Mercator world's width, in meters (the step estimate starts from it).
const MERCATOR_MAX: f64 = 20037726.37;
/// C's `M_PI / 180.0`.
const D_R: f64 = std::f64::consts::PI / 180.0;

#[inline]
fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

#[inline]
fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// A hash of `step` bits per coordinate (Redis's `GeoHashBits`). Both zero: "no cell" (a
/// neighbour excluded from a search).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HashBits {
    /// Interleaved bits, `2 * step` of them.
    pub bits: u64,
    /// Bits per coordinate.
    pub step: u8,
}

impl HashBits {
    /// Redis's `HASHISZERO`.
    #[inline]
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash shifted to 52 bits (`geohashAlign52Bits`): the lowest score of the cell.
    #[inline]
    pub fn align52(&self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }

    /// The scores `[min, max)` of the members inside this cell (`scoresOfGeoHashBox`).
    #[inline]
    pub fn score_range(&self) -> (f64, f64) {
        let next = HashBits {
            bits: self.bits.wrapping_add(1),
            step: self.step,
        };
        (self.align52() as f64, next.align52() as f64)
    }
}

/// A coordinate interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Lower end.
    pub min: f64,
    /// Upper end.
    pub max: f64,
}

/// The longitude range Redis hashes over.
pub const LON_RANGE: Range = Range {
    min: LON_MIN,
    max: LON_MAX,
};
/// The latitude range Redis hashes over (Mercator's).
pub const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};
/// The latitude range of standard geohash strings (GEOHASH's output).
pub const LAT_RANGE_STANDARD: Range = Range {
    min: -90.0,
    max: 90.0,
};

/// The bounds of a decoded cell.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Area {
    /// West and east edges.
    pub lon: (f64, f64),
    /// South and north edges.
    pub lat: (f64, f64),
}

/// Spreads the bits of `x` to the even positions and those of `y` to the odd ones.
#[inline]
fn interleave(x: u32, y: u32) -> u64 {
    #[inline]
    fn spread(v: u32) -> u64 {
        let mut v = u64::from(v);
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        v = (v | (v << 1)) & 0x5555_5555_5555_5555;
        v
    }
    spread(x) | (spread(y) << 1)
}

/// The inverse of [`interleave`]: the even bits in the low half, the odd ones in the high.
#[inline]
fn deinterleave(v: u64) -> u64 {
    #[inline]
    fn squash(v: u64) -> u64 {
        let mut v = v & 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF
    }
    squash(v) | (squash(v >> 1) << 32)
}

/// Hashes a position over the given ranges with `step` bits per coordinate
/// (`geohashEncode`); None outside the ranges or Redis's limits.
pub fn encode(
    lon_range: Range,
    lat_range: Range,
    lon: f64,
    lat: f64,
    step: u8,
) -> Option<HashBits> {
    if step > 32 || step == 0 {
        return None;
    }
    // (Callers never pass a NaN, which C's comparisons would let through.)
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < lon_range.min || lon > lon_range.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min) * scale;
    let lon_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min) * scale;
    // C converts the offsets (at most 2^step) to uint32_t, truncating.
    Some(HashBits {
        bits: interleave(lat_offset as u32, lon_offset as u32),
        step,
    })
}

/// The score Redis stores for a position (already checked against the limits).
pub fn encode_score(lon: f64, lat: f64) -> Option<u64> {
    encode(LON_RANGE, LAT_RANGE, lon, lat, STEP_MAX).map(|h| h.align52())
}

/// The cell of `hash` over Redis's ranges (`geohashDecode`); None for the zero hash.
pub fn decode(hash: HashBits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let sep = deinterleave(hash.bits);
    let ilat = sep as u32;
    let ilon = (sep >> 32) as u32;
    let cells = (1u64 << hash.step) as f64;
    let lat_scale = LAT_RANGE.max - LAT_RANGE.min;
    let lon_scale = LON_RANGE.max - LON_RANGE.min;
    // `(ilat + 1)` is C unsigned arithmetic: it wraps at 2^32.
    Some(Area {
        lat: (
            LAT_RANGE.min + (f64::from(ilat) / cells) * lat_scale,
            LAT_RANGE.min + (f64::from(ilat.wrapping_add(1)) / cells) * lat_scale,
        ),
        lon: (
            LON_RANGE.min + (f64::from(ilon) / cells) * lon_scale,
            LON_RANGE.min + (f64::from(ilon.wrapping_add(1)) / cells) * lon_scale,
        ),
    })
}

/// The centre of a cell, clamped to the limits (`geohashDecodeAreaToLongLat`).
fn area_center(area: &Area) -> [f64; 2] {
    let lon = ((area.lon.0 + area.lon.1) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((area.lat.0 + area.lat.1) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// C's `(uint64_t)d` as gcc compiles it for x86-64 (what `decodeGeohash` does to any
/// score, geo or not): below 2^63 a signed truncation (negative values wrap, out of range
/// and NaN give 2^63); from 2^63 on, the truncation of `d - 2^63` with the top bit flipped.
pub fn c_double_to_u64(d: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if d >= TWO_63 {
        (c_double_to_i64(d - TWO_63) as u64) ^ (1 << 63)
    } else {
        c_double_to_i64(d) as u64
    }
}

/// C's `(long long)d` on x86-64 (`cvttsd2si`): truncation, and i64::MIN for NaN and values
/// out of range.
pub fn c_double_to_i64(d: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if !(-TWO_63..TWO_63).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

/// The position a sorted-set score stands for (`decodeGeohash`): any score decodes, to a
/// point within the limits.
pub fn decode_score(score: f64) -> [f64; 2] {
    let hash = HashBits {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    decode(hash).map(|a| area_center(&a)).unwrap_or([0.0, 0.0])
}

/// GEOHASH's 11-character standard geohash of a score: the position re-encoded over the
/// standard ranges (latitudes ±90), 5 bits a character, the 11th always `0`.
pub fn standard_geohash(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let [lon, lat] = decode_score(score);
    let bits = encode(LON_RANGE, LAT_RANGE_STANDARD, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().take(10).enumerate() {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

/// Moves a hash one cell east (`d > 0`) or west (`geohash_move_x`), wrapping around.
fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz.wrapping_add(1));
    } else {
        x |= zz;
        x = x.wrapping_sub(zz.wrapping_add(1));
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    hash.bits = x | y;
}

/// Moves a hash one cell north (`d > 0`) or south (`geohash_move_y`), wrapping around.
fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(hash.step) * 2;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz.wrapping_add(1));
    } else {
        y |= zz;
        y = y.wrapping_sub(zz.wrapping_add(1));
    }
    y &= 0x5555_5555_5555_5555u64 >> shift;
    hash.bits = x | y;
}

/// The 8 cells around a cell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Neighbors {
    pub north: HashBits,
    pub east: HashBits,
    pub west: HashBits,
    pub south: HashBits,
    pub north_east: HashBits,
    pub south_east: HashBits,
    pub north_west: HashBits,
    pub south_west: HashBits,
}

fn neighbors(hash: &HashBits) -> Neighbors {
    let at = |dx: i8, dy: i8| {
        let mut h = *hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    Neighbors {
        east: at(1, 0),
        west: at(-1, 0),
        south: at(0, -1),
        north: at(0, 1),
        north_west: at(-1, 1),
        north_east: at(1, 1),
        south_east: at(1, -1),
        south_west: at(-1, -1),
    }
}

/// The area a search covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShapeKind {
    /// BYRADIUS: a circle of this radius (in the shape's unit).
    Circle { radius: f64 },
    /// BYBOX: a box of this width and height (in the shape's unit), axis-aligned.
    Box { width: f64, height: f64 },
}

/// A search area (Redis's `GeoShape`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// Circle or box.
    pub kind: ShapeKind,
    /// Its centre: longitude, latitude.
    pub xy: [f64; 2],
    /// Meters per unit of the radius, width and height (m 1, km 1000, ft 0.3048, mi 1609.34).
    pub conversion: f64,
}

impl Shape {
    /// Whether the point at `xy` is inside, and its distance from the centre in meters
    /// (`geoWithinShape`, after decoding).
    #[inline]
    pub fn contains(&self, xy: [f64; 2]) -> Option<f64> {
        match self.kind {
            ShapeKind::Circle { radius } => {
                let d = distance(self.xy[0], self.xy[1], xy[0], xy[1]);
                // NaN (nearly antipodal points) counts as inside, as in C.
                (d <= radius * self.conversion || d.is_nan()).then_some(d)
            }
            ShapeKind::Box { width, height } => distance_if_in_rectangle(
                width * self.conversion,
                height * self.conversion,
                self.xy[0],
                self.xy[1],
                xy[0],
                xy[1],
            ),
        }
    }
}

/// The cells to scan for a search (`GeoHashRadius`): the centre's cell and its 8
/// neighbours, some of them zeroed when they cannot hold a match.
#[derive(Debug, Clone, Copy)]
pub struct Cells {
    /// The cell of the centre.
    pub hash: HashBits,
    /// Its neighbours.
    pub neighbors: Neighbors,
}

impl Cells {
    /// In Redis's scan order: centre, N, S, E, W, NE, NW, SE, SW.
    pub fn in_order(&self) -> [HashBits; 9] {
        let n = &self.neighbors;
        [
            self.hash,
            n.north,
            n.south,
            n.east,
            n.west,
            n.north_east,
            n.north_west,
            n.south_east,
            n.south_west,
        ]
    }
}

/// Bits per coordinate of the cells that cover a search of `range_meters` around
/// latitude `lat` (`geohashEstimateStepsByRadius`).
pub fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    // Wider cells towards the poles.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// The bounding box of a shape: `[min lon, min lat, max lon, max lat]`
/// (`geohashBoundingBox`).
pub fn bounding_box(shape: &Shape) -> [f64; 4] {
    let [lon, lat] = shape.xy;
    let (height, width) = match shape.kind {
        ShapeKind::Circle { radius } => (shape.conversion * radius, shape.conversion * radius),
        ShapeKind::Box { width, height } => (
            shape.conversion * (height / 2.0),
            shape.conversion * (width / 2.0),
        ),
    };
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat - lat_delta).cos());
    // The box is widest on the side nearer the equator.
    let delta = if lat < 0.0 {
        long_delta_bottom
    } else {
        long_delta_top
    };
    [lon - delta, lat - lat_delta, lon + delta, lat + lat_delta]
}

/// The cells that cover a shape (`geohashCalculateAreasByShapeWGS84`).
pub fn cells_for(shape: &Shape) -> Cells {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let [lon, lat] = shape.xy;
    let radius_meters = match shape.kind {
        ShapeKind::Circle { radius } => radius,
        ShapeKind::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    } * shape.conversion;
    let mut steps = estimate_steps(radius_meters, lat);
    let at = |steps: u8| {
        let hash = encode(LON_RANGE, LAT_RANGE, lon, lat, steps).unwrap_or_default();
        (hash, neighbors(&hash), decode(hash).unwrap_or_default())
    };
    let (mut hash, mut around, mut area) = at(steps);
    // The estimate may leave part of the box outside the 9 cells near their edges: then
    // one step coarser.
    let edge = |h: HashBits| decode(h).unwrap_or_default();
    let decrease = edge(around.north).lat.1 < max_lat
        || edge(around.south).lat.0 > min_lat
        || edge(around.east).lon.1 < max_lon
        || edge(around.west).lon.0 > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        (hash, around, area) = at(steps);
    }
    // Drop the neighbours the search area cannot reach.
    if steps >= 2 {
        let none = HashBits::default();
        if area.lat.0 < min_lat {
            around.south = none;
            around.south_west = none;
            around.south_east = none;
        }
        if area.lat.1 > max_lat {
            around.north = none;
            around.north_east = none;
            around.north_west = none;
        }
        if area.lon.0 < min_lon {
            around.west = none;
            around.south_west = none;
            around.north_west = none;
        }
        if area.lon.1 > max_lon {
            around.east = none;
            around.south_east = none;
            around.north_east = none;
        }
    }
    Cells {
        hash,
        neighbors: around,
    }
}

/// The distance between two latitudes on a meridian (`geohashGetLatDistance`).
#[inline]
fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// The great-circle distance in meters (haversine, `geohashGetDistance`).
#[inline]
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// Whether `(x2, y2)` is inside the box of `width_m` by `height_m` meters centred on
/// `(x1, y1)`, and then its distance from the centre (`geohashGetDistanceIfInRectangle`).
#[inline]
fn distance_if_in_rectangle(
    width_m: f64,
    height_m: f64,
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
) -> Option<f64> {
    if lat_distance(y2, y1) > height_m / 2.0 {
        return None;
    }
    if distance(x2, y2, x1, y2) > width_m / 2.0 {
        return None;
    }
    Some(distance(x1, y1, x2, y2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (u32::MAX, 0),
            (0x1234_5678, 0x9abc_def0),
        ] {
            let v = interleave(x, y);
            assert_eq!(deinterleave(v), u64::from(x) | (u64::from(y) << 32));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    #[test]
    fn scores_and_positions_as_redis_computes_them() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" 15.087269 37.502669 "Catania"
        assert_eq!(encode_score(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(encode_score(15.087269, 37.502669), Some(3479447370796909));
        let [lon, lat] = decode_score(3479099956230698.0);
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        // GEODIST Sicily Palermo Catania: 166274.1516 m.
        let [lon2, lat2] = decode_score(3479447370796909.0);
        let d = distance(lon, lat, lon2, lat2);
        assert_eq!(format!("{d:.4}"), "166274.1516");
        assert_eq!(&standard_geohash(3479099956230698.0), b"sqc8b49rny0");
        assert_eq!(&standard_geohash(3479447370796909.0), b"sqdtr74hyu0");
    }

    #[test]
    fn out_of_range_positions_do_not_encode() {
        assert_eq!(encode_score(180.0001, 0.0), None);
        assert_eq!(encode_score(0.0, 85.06), None);
        assert!(encode_score(180.0, 85.05112878).is_some());
        assert!(encode_score(-180.0, -85.05112878).is_some());
    }

    #[test]
    fn double_conversions_follow_x86_64() {
        assert_eq!(c_double_to_u64(-1.5), u64::MAX);
        assert_eq!(c_double_to_u64(f64::INFINITY), 0);
        assert_eq!(c_double_to_u64(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(c_double_to_u64(1e30), 0);
        assert_eq!(c_double_to_u64(1.8e19), 0xf9cc_d8a1_c508_0000);
        assert_eq!(c_double_to_i64(f64::NAN), i64::MIN);
        assert_eq!(c_double_to_i64(-2.9), -2);
    }

    #[test]
    fn step_estimates() {
        assert_eq!(estimate_steps(0.0, 0.0), 26);
        assert_eq!(estimate_steps(1000.0, 0.0), 14);
        assert_eq!(estimate_steps(1000.0, 70.0), 13);
        assert_eq!(estimate_steps(1000.0, -85.0), 12);
        assert_eq!(estimate_steps(1e9, 0.0), 1);
        assert_eq!(estimate_steps(f64::INFINITY, 0.0), 1);
    }

    #[test]
    fn neighbours_wrap_around() {
        let h = HashBits { bits: 0, step: 2 };
        let n = neighbors(&h);
        // West of the westmost column is the eastmost one.
        let west = decode(n.west).unwrap();
        assert_eq!(west.lon.1, 180.0);
        let east = decode(n.east).unwrap();
        assert_eq!(east.lon.0, -90.0);
    }
}
