//! Location primitives shared by the server and the mobile core.
//!
//! This module is pure: no I/O, no clocks, no logging, no global state. It
//! provides:
//!
//! * coordinate and accuracy validation ([`check_coordinates`],
//!   [`check_accuracy`]);
//! * location precision levels and the "approximate" grid used to coarsen a
//!   fix to a cell of about 2 km ([`Precision`], [`snap`], [`apply_precision`]);
//! * geofences (circles and simple polygons) with validation, containment and
//!   distance ([`Geofence`]);
//! * an R-tree index answering "which fences contain this fix?" over many
//!   fences ([`GeofenceIndex`]).
//!
//! Coordinates are WGS84 degrees. Distances use the haversine formula on a
//! sphere of the GRS80 mean radius (the one `geo::Haversine` uses), in metres.
//!
//! Error messages never contain coordinate values: a location is personal
//! data, and errors end up in logs.

use geo::{
    Area, Bearing, BoundingRect, Centroid, Closest, Coord, Distance, Haversine,
    HaversineClosestPoint, Intersects, LineString, Point, Polygon,
};
use serde::{Deserialize, Serialize};

mod precision;
mod ring;
mod rtree;

pub use precision::{
    APPROXIMATE_ACCURACY_M, GRID_DEG, Precision, apply_precision, is_snapped, snap,
};
pub use rtree::GeofenceIndex;

/// Radius of the sphere used for all distance computations, in metres (the
/// GRS80 mean radius, identical to the one used by `geo::Haversine`).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Largest accuracy radius, in metres, that a fix may report. Anything beyond
/// is not a usable location.
pub const MAX_ACCURACY_M: f64 = 10_000.0;

/// Smallest radius of a circular geofence, in metres.
pub const MIN_RADIUS_M: f64 = 10.0;

/// Largest radius of a circular geofence, in metres.
pub const MAX_RADIUS_M: f64 = 5_000.0;

/// Largest distance, in metres, between any two points of a polygonal
/// geofence.
pub const MAX_POLYGON_SPAN_M: f64 = 50_000.0;

/// Largest number of points (closing point included) of a polygonal geofence.
/// Validation is near-linear in the number of points (see `ring`); this
/// bounds its cost on untrusted input all the same.
pub const MAX_POLYGON_POINTS: usize = 1_000;

/// Safety margin, in degrees, added around circles' bounding boxes so that
/// rounding in the trigonometry never makes the index miss a fix right on a
/// circle's edge.
const BBOX_MARGIN_DEG: f64 = 1e-9;

/// Why a coordinate, an accuracy, a precision or a geofence was refused.
///
/// Messages name the field and the rule, never the offending value: values
/// may be coordinates, which are personal data.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum LocationError {
    /// A number is NaN or infinite.
    #[error("{field} must be a finite number")]
    NotFinite {
        /// The field holding the number.
        field: &'static str,
    },
    /// A number lies outside its allowed range.
    #[error("{field} is out of range: it must be between {min} and {max}")]
    OutOfRange {
        /// The field holding the number.
        field: &'static str,
        /// Smallest allowed value.
        min: f64,
        /// Largest allowed value.
        max: f64,
    },
    /// A precision name is not one of `off`, `approximate`, `precise`.
    #[error("unknown precision: expected one of off, approximate, precise")]
    UnknownPrecision,
    /// A point of a polygon has an invalid coordinate.
    #[error("polygon point {index} is invalid: {reason}")]
    InvalidPoint {
        /// Index of the point in `points`.
        index: usize,
        /// What is wrong with it ([`LocationError::NotFinite`] or
        /// [`LocationError::OutOfRange`] on `lat` or `lon`).
        reason: Box<LocationError>,
    },
    /// A polygon has too few points.
    #[error(
        "polygon has {count} points: it needs at least 4 (3 distinct corners, then the first point repeated to close it)"
    )]
    TooFewPoints {
        /// Number of points given.
        count: usize,
    },
    /// A polygon has too many points.
    #[error("polygon has {count} points: at most {max} are allowed")]
    TooManyPoints {
        /// Number of points given.
        count: usize,
        /// Largest number allowed.
        max: usize,
    },
    /// The last point of a polygon differs from its first.
    #[error("polygon is not closed: the last point must repeat the first")]
    NotClosed,
    /// A point of a polygon equals the one before it.
    #[error("polygon point {index} repeats the point before it")]
    RepeatedPoint {
        /// Index of the repeating point in `points`.
        index: usize,
    },
    /// All the points of a polygon lie on one line.
    #[error("polygon has zero area: its points are all on one line")]
    ZeroArea,
    /// Edges of a polygon cross, touch or fold back on each other.
    #[error("polygon intersects itself: its edges must not cross, touch or fold back")]
    SelfIntersecting,
    /// A polygon is wider than [`MAX_POLYGON_SPAN_M`].
    #[error("polygon is too large: no two of its points may be more than {max_m} m apart")]
    TooLarge {
        /// Largest distance allowed, in metres.
        max_m: f64,
    },
    /// A polygon has an edge spanning more than 180° of longitude.
    #[error(
        "polygon crosses the antimeridian (longitude ±180), which is not supported: split it in two"
    )]
    CrossesAntimeridian,
}

impl LocationError {
    /// A stable snake_case code for the rule broken (`not_closed`,
    /// `self_intersecting`, `out_of_range`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFinite { .. } => "not_finite",
            Self::OutOfRange { .. } => "out_of_range",
            Self::UnknownPrecision => "unknown_precision",
            Self::InvalidPoint { .. } => "invalid_point",
            Self::TooFewPoints { .. } => "too_few_points",
            Self::TooManyPoints { .. } => "too_many_points",
            Self::NotClosed => "not_closed",
            Self::RepeatedPoint { .. } => "repeated_point",
            Self::ZeroArea => "zero_area",
            Self::SelfIntersecting => "self_intersecting",
            Self::TooLarge { .. } => "too_large",
            Self::CrossesAntimeridian => "crosses_antimeridian",
        }
    }

    /// Name of the input field the error is about: `"lat"`, `"lon"`,
    /// `"accuracy_m"`, `"radius_m"`, `"precision"` or `"points"`.
    pub fn field(&self) -> &'static str {
        match self {
            Self::NotFinite { field } | Self::OutOfRange { field, .. } => field,
            Self::UnknownPrecision => "precision",
            Self::InvalidPoint { .. }
            | Self::TooFewPoints { .. }
            | Self::TooManyPoints { .. }
            | Self::NotClosed
            | Self::RepeatedPoint { .. }
            | Self::ZeroArea
            | Self::SelfIntersecting
            | Self::TooLarge { .. }
            | Self::CrossesAntimeridian => "points",
        }
    }
}

/// Checks that `value` is finite and within `min..=max`.
fn check_range(field: &'static str, value: f64, min: f64, max: f64) -> Result<(), LocationError> {
    if !value.is_finite() {
        return Err(LocationError::NotFinite { field });
    }
    if !(min..=max).contains(&value) {
        return Err(LocationError::OutOfRange { field, min, max });
    }
    Ok(())
}

/// Checks that a coordinate pair is finite, with `lat` in `[-90, 90]` and
/// `lon` in `[-180, 180]` degrees.
pub fn check_coordinates(lat: f64, lon: f64) -> Result<(), LocationError> {
    check_range("lat", lat, -90.0, 90.0)?;
    check_range("lon", lon, -180.0, 180.0)
}

/// Checks that an accuracy radius is finite, not negative and at most
/// [`MAX_ACCURACY_M`] metres.
pub fn check_accuracy(accuracy_m: f64) -> Result<(), LocationError> {
    check_range("accuracy_m", accuracy_m, 0.0, MAX_ACCURACY_M)
}

/// A point in WGS84 degrees. `Debug` prints no coordinates (they are
/// personal data).
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LatLon {
    /// Latitude in degrees, `[-90, 90]`.
    pub lat: f64,
    /// Longitude in degrees, `[-180, 180]`.
    pub lon: f64,
}

impl std::fmt::Debug for LatLon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LatLon([redacted])")
    }
}

impl std::fmt::Debug for Geofence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Circle { .. } => f.write_str("Geofence::Circle([redacted])"),
            Self::Polygon { points } => write!(f, "Geofence::Polygon({} points)", points.len()),
        }
    }
}

impl LatLon {
    /// As a `geo` point (x = longitude, y = latitude).
    fn point(self) -> Point<f64> {
        Point::new(self.lon, self.lat)
    }

    /// As a `geo` coordinate (x = longitude, y = latitude).
    fn coord(self) -> Coord<f64> {
        Coord {
            x: self.lon,
            y: self.lat,
        }
    }
}

/// Haversine distance in metres and initial great-circle bearing in degrees
/// (`[0, 360)`, 0 = north, 90 = east) from `from` to `to`.
pub fn distance_and_bearing(from: LatLon, to: LatLon) -> (f64, f64) {
    let distance = Haversine.distance(from.point(), to.point());
    let bearing = Haversine.bearing(from.point(), to.point());
    let bearing = if (0.0..360.0).contains(&bearing) {
        bearing
    } else {
        0.0
    };
    (distance, bearing)
}

/// An area that a fix can be inside of.
///
/// JSON: `{"type":"circle","lat":48.85,"lon":2.35,"radius_m":150}` or
/// `{"type":"polygon","points":[{"lat":..,"lon":..}, .., <first point again>]}`.
///
/// Deserializing does not validate: call [`Geofence::validate`] on anything
/// received. The other methods give meaningful results only for valid fences.
/// `Debug` prints only the kind of fence, never coordinates.
#[derive(Serialize, Deserialize, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Geofence {
    /// Every point within `radius_m` metres of a centre.
    Circle {
        /// Latitude of the centre, degrees.
        lat: f64,
        /// Longitude of the centre, degrees.
        lon: f64,
        /// Radius in metres, [`MIN_RADIUS_M`]`..=`[`MAX_RADIUS_M`].
        radius_m: f64,
    },
    /// A simple polygon (no holes, no self-intersection); its edges are
    /// straight lines in latitude/longitude.
    Polygon {
        /// The corners in order, the last one repeating the first.
        points: Vec<LatLon>,
    },
}

/// A geofence prepared for repeated tests (the polygon built once).
#[derive(Clone)]
enum Shape {
    /// A circle: centre and radius in metres.
    Circle(Point<f64>, f64),
    /// A polygon in x = longitude, y = latitude.
    Polygon(Polygon<f64>),
}

impl Shape {
    /// Whether the fix is inside or on the edge.
    fn contains(&self, lat: f64, lon: f64) -> bool {
        match self {
            Self::Circle(centre, radius_m) => {
                Haversine.distance(*centre, Point::new(lon, lat)) <= *radius_m
            }
            Self::Polygon(polygon) => polygon.intersects(&Coord { x: lon, y: lat }),
        }
    }
}

/// Builds the `geo` polygon of a list of points.
fn geo_polygon(points: &[LatLon]) -> Polygon<f64> {
    let ring: Vec<Coord<f64>> = points.iter().map(|p| p.coord()).collect();
    Polygon::new(LineString::from(ring), vec![])
}

/// Whether a ring has two consecutive edges that are collinear and go back
/// over each other (a "spike"), which `geo`'s validation does not report.
fn has_spike(points: &[LatLon]) -> bool {
    // `points` is closed and has no consecutive repeats: its edges are
    // points[i] -> points[i + 1].
    let edges = points.len() - 1;
    (0..edges).any(|i| {
        let a = points[i];
        let b = points[i + 1];
        let c = points[(i + 2 - 1) % edges + 1];
        let (ux, uy) = (b.lon - a.lon, b.lat - a.lat);
        let (vx, vy) = (c.lon - b.lon, c.lat - b.lat);
        ux * vy - uy * vx == 0.0 && ux * vx + uy * vy < 0.0
    })
}

impl Geofence {
    /// Checks the fence, with a distinct error for each problem: invalid
    /// centre or point (with its index), radius not finite or outside
    /// [`MIN_RADIUS_M`]`..=`[`MAX_RADIUS_M`], too few or too many points,
    /// polygon not closed, repeated consecutive points, polygon crossing the
    /// antimeridian, polygon wider than [`MAX_POLYGON_SPAN_M`], zero area,
    /// self-intersection.
    pub fn validate(&self) -> Result<(), LocationError> {
        match self {
            Self::Circle { lat, lon, radius_m } => {
                check_coordinates(*lat, *lon)?;
                check_range("radius_m", *radius_m, MIN_RADIUS_M, MAX_RADIUS_M)
            }
            Self::Polygon { points } => validate_polygon(points),
        }
    }

    /// Whether the fix is inside the fence; the boundary counts as inside.
    /// Circles use the haversine distance; polygons are tested in
    /// latitude/longitude.
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        self.shape().contains(lat, lon)
    }

    /// Distance in metres from the fix to the fence: 0 when inside, otherwise
    /// the haversine distance to the nearest point of the boundary.
    pub fn distance_m(&self, lat: f64, lon: f64) -> f64 {
        let here = Point::new(lon, lat);
        let shape = self.shape();
        if shape.contains(lat, lon) {
            return 0.0;
        }
        match shape {
            Shape::Circle(centre, radius_m) => {
                (Haversine.distance(centre, here) - radius_m).max(0.0)
            }
            Shape::Polygon(polygon) => match polygon.haversine_closest_point(&here) {
                Closest::SinglePoint(nearest) => Haversine.distance(nearest, here),
                Closest::Intersection(_) => 0.0,
                // Only for degenerate polygons: fall back to the nearest corner.
                Closest::Indeterminate => polygon
                    .exterior()
                    .points()
                    .map(|corner| Haversine.distance(corner, here))
                    .fold(f64::INFINITY, f64::min),
            },
        }
    }

    /// The centre of a circle, or the centroid of a polygon (computed in
    /// latitude/longitude; `NaN`s for a polygon without points).
    pub fn centre(&self) -> LatLon {
        match self {
            Self::Circle { lat, lon, .. } => LatLon {
                lat: *lat,
                lon: *lon,
            },
            Self::Polygon { points } => match geo_polygon(points).centroid() {
                Some(c) => LatLon {
                    lat: c.y(),
                    lon: c.x(),
                },
                None => LatLon {
                    lat: f64::NAN,
                    lon: f64::NAN,
                },
            },
        }
    }

    /// Bounding box as `([min_lon, min_lat], [max_lon, max_lat])`.
    ///
    /// A circle's box is its centre expanded by the radius, in degrees of
    /// latitude and in degrees of longitude at that latitude (using the exact
    /// spherical extent, so the whole circle is inside), plus a tiny margin.
    /// A circle reaching a pole or the antimeridian gets the full longitude
    /// range. A polygon without points gets a box of `NaN`s.
    pub fn bounding_box(&self) -> ([f64; 2], [f64; 2]) {
        match self {
            Self::Circle { lat, lon, radius_m } => circle_bounding_box(*lat, *lon, *radius_m),
            Self::Polygon { points } => match geo_polygon(points).bounding_rect() {
                Some(rect) => ([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]),
                None => ([f64::NAN; 2], [f64::NAN; 2]),
            },
        }
    }

    /// The fence prepared for containment tests.
    fn shape(&self) -> Shape {
        match self {
            Self::Circle { lat, lon, radius_m } => Shape::Circle(Point::new(*lon, *lat), *radius_m),
            Self::Polygon { points } => Shape::Polygon(geo_polygon(points)),
        }
    }
}

/// See [`Geofence::bounding_box`].
fn circle_bounding_box(lat: f64, lon: f64, radius_m: f64) -> ([f64; 2], [f64; 2]) {
    let angle = radius_m / EARTH_RADIUS_M; // radians of great circle
    let d_lat = angle.to_degrees() + BBOX_MARGIN_DEG;
    let min_lat = lat - d_lat;
    let max_lat = lat + d_lat;
    let full = ([-180.0, min_lat.max(-90.0)], [180.0, max_lat.min(90.0)]);
    if min_lat <= -90.0 || max_lat >= 90.0 {
        return full;
    }
    // Widest longitude reached by a spherical circle around (lat, lon).
    let ratio = angle.sin() / lat.to_radians().cos();
    if ratio.is_nan() || ratio >= 1.0 {
        return full;
    }
    let d_lon = ratio.asin().to_degrees() + BBOX_MARGIN_DEG;
    if lon - d_lon < -180.0 || lon + d_lon > 180.0 {
        return full;
    }
    ([lon - d_lon, min_lat], [lon + d_lon, max_lat])
}

/// See [`Geofence::validate`].
fn validate_polygon(points: &[LatLon]) -> Result<(), LocationError> {
    if points.len() > MAX_POLYGON_POINTS {
        return Err(LocationError::TooManyPoints {
            count: points.len(),
            max: MAX_POLYGON_POINTS,
        });
    }
    for (index, p) in points.iter().enumerate() {
        check_coordinates(p.lat, p.lon).map_err(|reason| LocationError::InvalidPoint {
            index,
            reason: Box::new(reason),
        })?;
    }
    if points.len() < 4 {
        return Err(LocationError::TooFewPoints {
            count: points.len(),
        });
    }
    if points.first() != points.last() {
        return Err(LocationError::NotClosed);
    }
    if let Some(index) = (1..points.len()).find(|&i| points[i] == points[i - 1]) {
        return Err(LocationError::RepeatedPoint { index });
    }
    if points
        .windows(2)
        .any(|w| (w[1].lon - w[0].lon).abs() > 180.0)
    {
        return Err(LocationError::CrossesAntimeridian);
    }
    let polygon = geo_polygon(points);
    if ring::span_exceeds(&polygon.exterior().0, MAX_POLYGON_SPAN_M, EARTH_RADIUS_M) {
        return Err(LocationError::TooLarge {
            max_m: MAX_POLYGON_SPAN_M,
        });
    }
    if all_collinear(points) {
        return Err(LocationError::ZeroArea);
    }
    if has_spike(points) {
        return Err(LocationError::SelfIntersecting);
    }
    if !ring::is_simple(&polygon.exterior().0) {
        return Err(LocationError::SelfIntersecting);
    }
    // A simple ring that is not all on one line has an area; this is only a
    // safety net against rounding.
    if polygon.unsigned_area() == 0.0 {
        return Err(LocationError::ZeroArea);
    }
    Ok(())
}

/// Whether all the points lie exactly on the line through the first two
/// (which differ: consecutive repeats are refused before).
fn all_collinear(points: &[LatLon]) -> bool {
    let (a, b) = (points[0], points[1]);
    let (ux, uy) = (b.lon - a.lon, b.lat - a.lat);
    points[2..]
        .iter()
        .all(|p| ux * (p.lat - a.lat) - uy * (p.lon - a.lon) == 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tiny deterministic PRNG (splitmix64), shared with `ring`'s tests.
    pub(super) struct SplitMix(pub(super) u64);

    impl SplitMix {
        pub(super) fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in [0, 1).
        fn unit(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }

        /// Uniform in [lo, hi).
        fn range(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * self.unit()
        }

        /// Uniform in `0..n`.
        pub(super) fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }
    }

    fn ll(lat: f64, lon: f64) -> LatLon {
        LatLon { lat, lon }
    }

    fn dist(a: (f64, f64), b: (f64, f64)) -> f64 {
        distance_and_bearing(ll(a.0, a.1), ll(b.0, b.1)).0
    }

    /// A point `distance_m` from (lat, lon) on `bearing` degrees.
    fn offset(lat: f64, lon: f64, bearing: f64, distance_m: f64) -> (f64, f64) {
        use geo::Destination;
        let p = Haversine.destination(Point::new(lon, lat), bearing, distance_m);
        (p.y(), p.x())
    }

    fn square(lat: f64, lon: f64, half_deg: f64) -> Geofence {
        Geofence::Polygon {
            points: vec![
                ll(lat - half_deg, lon - half_deg),
                ll(lat - half_deg, lon + half_deg),
                ll(lat + half_deg, lon + half_deg),
                ll(lat + half_deg, lon - half_deg),
                ll(lat - half_deg, lon - half_deg),
            ],
        }
    }

    /// A random simple (star-shaped) polygon around a centre.
    fn star_polygon(rng: &mut SplitMix, lat: f64, lon: f64, max_radius_m: f64) -> Geofence {
        let n = 3 + (rng.next_u64() % 10) as usize;
        let mut angles: Vec<f64> = (0..n).map(|_| rng.range(0.0, 360.0)).collect();
        angles.sort_by(f64::total_cmp);
        angles.dedup();
        let mut points: Vec<LatLon> = angles
            .iter()
            .map(|&a| {
                let r = rng.range(0.2, 1.0) * max_radius_m;
                let (plat, plon) = offset(lat, lon, a, r);
                ll(plat, plon)
            })
            .collect();
        points.push(points[0]);
        Geofence::Polygon { points }
    }

    fn random_fence(rng: &mut SplitMix, lat0: f64, lon0: f64, span_deg: f64) -> Geofence {
        loop {
            let lat = rng.range(lat0 - span_deg, lat0 + span_deg);
            let lon = rng.range(lon0 - span_deg, lon0 + span_deg);
            let fence = if rng.next_u64() & 1 == 0 {
                Geofence::Circle {
                    lat,
                    lon,
                    radius_m: rng.range(MIN_RADIUS_M, 3_000.0),
                }
            } else {
                let max_radius_m = rng.range(50.0, 3_000.0);
                star_polygon(rng, lat, lon, max_radius_m)
            };
            // Star polygons with nearly parallel spokes may come out
            // degenerate; keep only valid fences.
            if fence.validate().is_ok() {
                return fence;
            }
        }
    }

    // ---- coordinates and accuracy ----

    #[test]
    fn coordinates_accepted_at_bounds() {
        for (lat, lon) in [(0.0, 0.0), (90.0, 180.0), (-90.0, -180.0), (48.85, 2.35)] {
            assert_eq!(check_coordinates(lat, lon), Ok(()));
        }
    }

    #[test]
    fn coordinates_refused() {
        let cases = [
            (f64::NAN, 0.0, "lat", true),
            (f64::INFINITY, 0.0, "lat", true),
            (f64::NEG_INFINITY, 0.0, "lat", true),
            (0.0, f64::NAN, "lon", true),
            (0.0, f64::INFINITY, "lon", true),
            (90.000_001, 0.0, "lat", false),
            (-90.5, 0.0, "lat", false),
            (0.0, 180.000_001, "lon", false),
            (0.0, -181.0, "lon", false),
        ];
        for (lat, lon, field, not_finite) in cases {
            let err = check_coordinates(lat, lon).expect_err("must fail");
            assert_eq!(err.field(), field);
            assert_eq!(matches!(err, LocationError::NotFinite { .. }), not_finite);
        }
    }

    #[test]
    fn accuracy_checked() {
        assert_eq!(check_accuracy(0.0), Ok(()));
        assert_eq!(check_accuracy(MAX_ACCURACY_M), Ok(()));
        for bad in [-0.1, MAX_ACCURACY_M + 0.1, f64::NAN, f64::INFINITY] {
            let err = check_accuracy(bad).expect_err("must fail");
            assert_eq!(err.field(), "accuracy_m");
        }
        assert_eq!(
            check_accuracy(f64::NAN),
            Err(LocationError::NotFinite {
                field: "accuracy_m"
            })
        );
    }

    // ---- precision ----

    #[test]
    fn precision_order_names_and_serde() {
        assert!(Precision::Off < Precision::Approximate);
        assert!(Precision::Approximate < Precision::Precise);
        for p in [Precision::Off, Precision::Approximate, Precision::Precise] {
            assert_eq!(Precision::parse(p.as_str()), Some(p));
            assert_eq!(p.as_str().parse::<Precision>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
            let json = serde_json::to_string(&p).expect("valid");
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(serde_json::from_str::<Precision>(&json).expect("valid"), p);
        }
        assert_eq!(Precision::parse("Precise"), None);
        assert_eq!(
            "exact".parse::<Precision>(),
            Err(LocationError::UnknownPrecision)
        );
        assert_eq!(LocationError::UnknownPrecision.field(), "precision");
        assert!(serde_json::from_str::<Precision>("\"exact\"").is_err());
    }

    #[test]
    fn apply_precision_levels() {
        assert_eq!(apply_precision(Precision::Off, 48.85, 2.35, 5.0), None);
        assert_eq!(
            apply_precision(Precision::Precise, 48.85, 2.35, 5.0),
            Some((48.85, 2.35, 5.0))
        );
        let (lat, lon, acc) =
            apply_precision(Precision::Approximate, 48.8566, 2.3522, 5.0).expect("valid");
        assert_eq!((lat, lon), snap(48.8566, 2.3522));
        assert!(is_snapped(lat, lon));
        assert_eq!(acc, APPROXIMATE_ACCURACY_M);
        let (_, _, acc) =
            apply_precision(Precision::Approximate, 48.8566, 2.3522, 3_500.0).expect("valid");
        assert_eq!(acc, 3_500.0);
    }

    #[test]
    fn snap_known_values() {
        // Latitude is a multiple of the grid, longitude cells ~2 km wide.
        let (lat, lon) = snap(48.8566, 2.3522);
        assert!(((lat / GRID_DEG) - (lat / GRID_DEG).round()).abs() < 1e-9);
        let step_km =
            360.0 / precision::cells_around(lat) as f64 * lat.to_radians().cos() * 111.195;
        assert!((1.95..=2.002).contains(&step_km), "{step_km}");
        assert!(dist((48.8566, 2.3522), (lat, lon)) < 1_500.0);
        assert_eq!(snap(0.0, 0.0), (0.0, 0.0));
        assert_eq!(snap(90.0, 123.0), (90.0, 0.0));
        assert_eq!(snap(-90.0, -45.0), (-90.0, 0.0));
        let (_, lon) = snap(10.0, 180.0);
        assert!((-180.0..=180.0).contains(&lon));
        assert!(snap(f64::NAN, 0.0).0.is_nan());
        assert!(snap(0.0, f64::INFINITY).1.is_nan());
        assert!(!is_snapped(f64::NAN, 0.0));
        assert!(!is_snapped(48.8566, 2.3522));
        // No negative zero comes out.
        let (lat, lon) = snap(-0.001, -0.001);
        assert!(lat.is_sign_positive() && lon.is_sign_positive());
    }

    #[test]
    fn snap_idempotent_and_close() {
        let mut rng = SplitMix(7);
        let mut worst_mid = 0.0f64;
        let mut worst_polar = 0.0f64;
        for i in 0..200_000 {
            let (lat, lon) = match i % 5 {
                0 => (rng.range(-90.0, 90.0), rng.range(-180.0, 180.0)),
                // Near the antimeridian.
                1 => (rng.range(-90.0, 90.0), 180.0 - rng.range(0.0, 0.05)),
                2 => (rng.range(-90.0, 90.0), -180.0 + rng.range(0.0, 0.05)),
                // Near the poles.
                3 => (90.0 - rng.range(0.0, 0.1), rng.range(-180.0, 180.0)),
                _ => (-90.0 + rng.range(0.0, 0.1), rng.range(-180.0, 180.0)),
            };
            let s = snap(lat, lon);
            let again = snap(s.0, s.1);
            assert_eq!(
                (again.0.to_bits(), again.1.to_bits()),
                (s.0.to_bits(), s.1.to_bits()),
                "not idempotent"
            );
            assert!(is_snapped(s.0, s.1));
            assert_eq!(check_coordinates(s.0, s.1), Ok(()));
            let d = dist((lat, lon), s);
            if lat.abs() < 89.0 {
                worst_mid = worst_mid.max(d);
            } else {
                worst_polar = worst_polar.max(d);
            }
        }
        // Half a cell: 1 km north-south, at most ~1 km east-west, so at most
        // the half diagonal (~1.41 km). Within a degree of a pole the cells
        // turn into wedges and the bound is slightly looser.
        assert!(worst_mid <= 1_420.0, "{worst_mid}");
        assert!(worst_polar <= 1_500.0, "{worst_polar}");
        // And the bound is tight-ish: the grid is not finer than promised.
        assert!(worst_mid > 1_300.0, "{worst_mid}");
    }

    #[test]
    fn snap_exact_bounds() {
        for (lat, lon) in [
            (90.0, 180.0),
            (-90.0, -180.0),
            (0.0, 180.0),
            (0.0, -180.0),
            (45.0, 179.999_999),
        ] {
            let s = snap(lat, lon);
            assert_eq!(snap(s.0, s.1), s);
            assert!(dist((lat, lon), s) <= 1_500.0);
        }
        // -180 and 180 are the same meridian: they snap alike at the equator.
        assert_eq!(snap(0.0, -180.0), snap(0.0, 180.0));
    }

    #[test]
    fn snapped_points_survive_json() {
        let mut rng = SplitMix(3);
        for _ in 0..20_000 {
            let (lat, lon) = snap(rng.range(-90.0, 90.0), rng.range(-180.0, 180.0));
            let json = serde_json::to_string(&ll(lat, lon)).expect("valid");
            let back: LatLon = serde_json::from_str(&json).expect("valid");
            assert!(is_snapped(back.lat, back.lon));
            assert_eq!(snap(back.lat, back.lon), (lat, lon));
            // Points off the grid are recognised as such.
            assert!(!is_snapped(lat + 1e-6, lon));
        }
    }

    // ---- geofence serde ----

    #[test]
    fn geofence_json() {
        let circle: Geofence =
            serde_json::from_str(r#"{"type":"circle","lat":48.85,"lon":2.35,"radius_m":150}"#)
                .expect("valid");
        assert_eq!(
            circle,
            Geofence::Circle {
                lat: 48.85,
                lon: 2.35,
                radius_m: 150.0
            }
        );
        let json = serde_json::to_string(&circle).expect("valid");
        assert_eq!(
            json,
            r#"{"type":"circle","lat":48.85,"lon":2.35,"radius_m":150.0}"#
        );
        let poly = Geofence::Polygon {
            points: vec![
                ll(48.849, 2.349),
                ll(48.849, 2.351),
                ll(48.851, 2.351),
                ll(48.849, 2.349),
            ],
        };
        let json = serde_json::to_string(&poly).expect("valid");
        assert!(json.starts_with(r#"{"type":"polygon","points":[{"lat":"#));
        assert_eq!(
            serde_json::from_str::<Geofence>(&json).expect("valid"),
            poly
        );
        for bad in [
            r#"{"type":"circle","lat":1,"lon":2,"radius_m":150,"extra":1}"#,
            r#"{"type":"polygon","points":[{"lat":1,"lon":2,"alt":3}]}"#,
            r#"{"type":"hexagon","points":[]}"#,
            r#"{"lat":1,"lon":2,"radius_m":150}"#,
            r#"{"type":"circle","lat":1,"lon":2}"#,
        ] {
            assert!(serde_json::from_str::<Geofence>(bad).is_err(), "{bad}");
        }
    }

    // ---- geofence validation ----

    #[test]
    fn circle_validation() {
        let c = |lat, lon, radius_m| Geofence::Circle { lat, lon, radius_m };
        assert_eq!(c(48.85, 2.35, 150.0).validate(), Ok(()));
        assert_eq!(c(48.85, 2.35, MIN_RADIUS_M).validate(), Ok(()));
        assert_eq!(c(48.85, 2.35, MAX_RADIUS_M).validate(), Ok(()));
        assert_eq!(
            c(48.85, 2.35, 9.9).validate(),
            Err(LocationError::OutOfRange {
                field: "radius_m",
                min: MIN_RADIUS_M,
                max: MAX_RADIUS_M
            })
        );
        assert_eq!(
            c(48.85, 2.35, 5_000.1)
                .validate()
                .expect_err("must fail")
                .field(),
            "radius_m"
        );
        assert_eq!(
            c(48.85, 2.35, f64::NAN).validate(),
            Err(LocationError::NotFinite { field: "radius_m" })
        );
        assert_eq!(
            c(48.85, 2.35, f64::INFINITY).validate(),
            Err(LocationError::NotFinite { field: "radius_m" })
        );
        assert_eq!(
            c(f64::NAN, 2.35, 150.0).validate(),
            Err(LocationError::NotFinite { field: "lat" })
        );
        assert_eq!(
            c(48.85, f64::NEG_INFINITY, 150.0).validate(),
            Err(LocationError::NotFinite { field: "lon" })
        );
        assert_eq!(
            c(91.0, 2.35, 150.0)
                .validate()
                .expect_err("must fail")
                .field(),
            "lat"
        );
        assert_eq!(
            c(48.85, 200.0, 150.0)
                .validate()
                .expect_err("must fail")
                .field(),
            "lon"
        );
    }

    #[test]
    fn polygon_valid() {
        assert_eq!(square(48.85, 2.35, 0.001).validate(), Ok(()));
        let triangle = Geofence::Polygon {
            points: vec![ll(0.0, 0.0), ll(0.0, 0.01), ll(0.01, 0.0), ll(0.0, 0.0)],
        };
        assert_eq!(triangle.validate(), Ok(()));
        // Redundant collinear corner going forward is fine.
        let with_midpoint = Geofence::Polygon {
            points: vec![
                ll(0.0, 0.0),
                ll(0.0, 0.005),
                ll(0.0, 0.01),
                ll(0.01, 0.0),
                ll(0.0, 0.0),
            ],
        };
        assert_eq!(with_midpoint.validate(), Ok(()));
        // Touching the antimeridian without crossing it is fine.
        assert_eq!(square(10.0, 179.99, 0.01).validate(), Ok(()));
    }

    #[test]
    fn polygon_invalid_points() {
        for (bad, field) in [
            (ll(f64::NAN, 0.0), "lat"),
            (ll(f64::INFINITY, 0.0), "lat"),
            (ll(0.0, f64::NAN), "lon"),
            (ll(0.0, f64::NEG_INFINITY), "lon"),
            (ll(95.0, 0.0), "lat"),
            (ll(0.0, -190.0), "lon"),
        ] {
            let mut points = vec![
                ll(0.0, 0.0),
                ll(0.0, 0.01),
                ll(0.01, 0.01),
                ll(0.01, 0.0),
                ll(0.0, 0.0),
            ];
            points[2] = bad;
            let err = Geofence::Polygon { points }
                .validate()
                .expect_err("must fail");
            match &err {
                LocationError::InvalidPoint { index, reason } => {
                    assert_eq!(*index, 2);
                    assert_eq!(reason.field(), field);
                }
                other => panic!("unexpected {other:?}"),
            }
            assert_eq!(err.field(), "points");
            assert!(err.to_string().starts_with("polygon point 2 is invalid: "));
        }
    }

    #[test]
    fn polygon_too_few_or_many_points() {
        for n in 0..4 {
            let points: Vec<LatLon> =
                [ll(0.0, 0.0), ll(0.0, 0.01), ll(0.01, 0.0), ll(0.0, 0.0)][..n].to_vec();
            assert_eq!(
                Geofence::Polygon { points }.validate(),
                Err(LocationError::TooFewPoints { count: n })
            );
        }
        let mut points: Vec<LatLon> = (0..MAX_POLYGON_POINTS)
            .map(|i| ll(0.0, i as f64 * 1e-5))
            .collect();
        points.push(points[0]);
        assert_eq!(
            Geofence::Polygon { points }.validate(),
            Err(LocationError::TooManyPoints {
                count: MAX_POLYGON_POINTS + 1,
                max: MAX_POLYGON_POINTS
            })
        );
    }

    #[test]
    fn polygon_not_closed() {
        let fence = Geofence::Polygon {
            points: vec![ll(0.0, 0.0), ll(0.0, 0.01), ll(0.01, 0.01), ll(0.01, 0.0)],
        };
        let err = fence.validate().expect_err("must fail");
        assert_eq!(err, LocationError::NotClosed);
        assert_eq!(
            err.to_string(),
            "polygon is not closed: the last point must repeat the first"
        );
    }

    #[test]
    fn polygon_repeated_point() {
        let fence = Geofence::Polygon {
            points: vec![
                ll(0.0, 0.0),
                ll(0.0, 0.01),
                ll(0.0, 0.01),
                ll(0.01, 0.0),
                ll(0.0, 0.0),
            ],
        };
        assert_eq!(
            fence.validate(),
            Err(LocationError::RepeatedPoint { index: 2 })
        );
        // Repeated closing point.
        let fence = Geofence::Polygon {
            points: vec![
                ll(0.0, 0.0),
                ll(0.0, 0.01),
                ll(0.01, 0.0),
                ll(0.0, 0.0),
                ll(0.0, 0.0),
            ],
        };
        assert_eq!(
            fence.validate(),
            Err(LocationError::RepeatedPoint { index: 4 })
        );
    }

    #[test]
    fn polygon_zero_area() {
        let fence = Geofence::Polygon {
            points: vec![ll(0.0, 0.0), ll(0.0, 0.01), ll(0.0, 0.02), ll(0.0, 0.0)],
        };
        assert_eq!(fence.validate(), Err(LocationError::ZeroArea));
        let there_and_back = Geofence::Polygon {
            points: vec![
                ll(0.0, 0.0),
                ll(0.01, 0.01),
                ll(0.0, 0.0),
                ll(0.01, 0.01),
                ll(0.0, 0.0),
            ],
        };
        assert_eq!(there_and_back.validate(), Err(LocationError::ZeroArea));
    }

    #[test]
    fn polygon_bow_tie_refused() {
        let bow_tie = Geofence::Polygon {
            points: vec![
                ll(0.0, 0.0),
                ll(0.01, 0.01),
                ll(0.0, 0.01),
                ll(0.01, 0.0),
                ll(0.0, 0.0),
            ],
        };
        let err = bow_tie.validate().expect_err("must fail");
        assert_eq!(err, LocationError::SelfIntersecting);
        assert_eq!(err.field(), "points");
    }

    #[test]
    fn polygon_spike_and_touching_refused() {
        // A spike: the edge to (0.02, 0.0) comes straight back along itself.
        let spike = Geofence::Polygon {
            points: vec![
                ll(0.0, 0.0),
                ll(0.0, 0.01),
                ll(0.01, 0.01),
                ll(0.01, 0.0),
                ll(0.02, 0.0),
                ll(0.005, 0.0),
                ll(0.0, 0.0),
            ],
        };
        assert_eq!(spike.validate(), Err(LocationError::SelfIntersecting));
        // Two lobes touching at one vertex (figure of eight).
        let eight = Geofence::Polygon {
            points: vec![
                ll(0.0, 0.0),
                ll(0.0, 0.01),
                ll(0.01, 0.005),
                ll(0.02, 0.0),
                ll(0.02, 0.01),
                ll(0.01, 0.005),
                ll(0.0, 0.0),
            ],
        };
        assert_eq!(eight.validate(), Err(LocationError::SelfIntersecting));
    }

    #[test]
    fn polygon_too_large() {
        // 0.5° of latitude is ~55 km.
        let big = square(48.0, 2.0, 0.25);
        assert_eq!(
            big.validate(),
            Err(LocationError::TooLarge {
                max_m: MAX_POLYGON_SPAN_M
            })
        );
        assert_eq!(square(48.0, 2.0, 0.1).validate(), Ok(()));
    }

    #[test]
    fn polygon_antimeridian_refused() {
        let fence = Geofence::Polygon {
            points: vec![
                ll(0.0, 179.99),
                ll(0.0, -179.99),
                ll(0.01, -179.99),
                ll(0.01, 179.99),
                ll(0.0, 179.99),
            ],
        };
        let err = fence.validate().expect_err("must fail");
        assert_eq!(err, LocationError::CrossesAntimeridian);
        assert!(err.to_string().contains("antimeridian"));
    }

    #[test]
    fn error_messages_have_no_coordinates() {
        let errors = [
            check_coordinates(-112.345_678, 0.0).expect_err("must fail"),
            check_coordinates(95.123_456, 0.0).expect_err("must fail"),
            check_coordinates(0.0, 187.654_321).expect_err("must fail"),
            check_accuracy(12_345.678).expect_err("must fail"),
            Geofence::Circle {
                lat: 48.123_456,
                lon: 2.654_321,
                radius_m: 7_777.7,
            }
            .validate()
            .expect_err("must fail"),
            Geofence::Polygon {
                points: vec![ll(48.123_456, 2.654_321), ll(95.5, 2.0)],
            }
            .validate()
            .expect_err("must fail"),
        ];
        for err in errors {
            let msg = err.to_string();
            for secret in [
                "12.345", "95.12", "187.6", "12345", "48.12", "2.65", "7777", "95.5",
            ] {
                assert!(!msg.contains(secret), "{msg}");
            }
        }
        // Every variant has a message and a field.
        let all = [
            LocationError::NotFinite { field: "lat" },
            LocationError::OutOfRange {
                field: "lon",
                min: -180.0,
                max: 180.0,
            },
            LocationError::UnknownPrecision,
            LocationError::InvalidPoint {
                index: 3,
                reason: Box::new(LocationError::NotFinite { field: "lat" }),
            },
            LocationError::TooFewPoints { count: 2 },
            LocationError::TooManyPoints {
                count: 2_000,
                max: MAX_POLYGON_POINTS,
            },
            LocationError::NotClosed,
            LocationError::RepeatedPoint { index: 1 },
            LocationError::ZeroArea,
            LocationError::SelfIntersecting,
            LocationError::TooLarge {
                max_m: MAX_POLYGON_SPAN_M,
            },
            LocationError::CrossesAntimeridian,
        ];
        for err in all {
            assert!(!err.to_string().is_empty());
            assert!(["lat", "lon", "precision", "points"].contains(&err.field()));
        }
    }

    // ---- distances, containment ----

    #[test]
    fn paris_london() {
        let paris = ll(48.8566, 2.3522);
        let london = ll(51.5074, -0.1278);
        let (d, bearing) = distance_and_bearing(paris, london);
        assert!((d - 343_500.0).abs() < 1_000.0, "{d}");
        assert!((330.0..331.0).contains(&bearing), "{bearing}");
        let (d_back, bearing_back) = distance_and_bearing(london, paris);
        assert!((d - d_back).abs() < 1e-6);
        assert!((148.0..150.0).contains(&bearing_back), "{bearing_back}");
        assert_eq!(distance_and_bearing(paris, paris), (0.0, 0.0));
        let (_, east) = distance_and_bearing(ll(0.0, 0.0), ll(0.0, 1.0));
        assert!((east - 90.0).abs() < 1e-9);
        let (_, west) = distance_and_bearing(ll(0.0, 0.0), ll(0.0, -1.0));
        assert!((west - 270.0).abs() < 1e-9);
    }

    #[test]
    fn circle_containment_and_distance() {
        let (lat, lon) = (48.85, 2.35);
        let fence = Geofence::Circle {
            lat,
            lon,
            radius_m: 100.0,
        };
        assert!(fence.contains(lat, lon));
        for bearing in [0.0, 45.0, 90.0, 180.0, 270.0, 333.0] {
            let (ilat, ilon) = offset(lat, lon, bearing, 99.5);
            let (olat, olon) = offset(lat, lon, bearing, 100.5);
            assert!(fence.contains(ilat, ilon), "inside at {bearing}");
            assert!(!fence.contains(olat, olon), "outside at {bearing}");
            assert_eq!(fence.distance_m(ilat, ilon), 0.0);
            assert!((fence.distance_m(olat, olon) - 0.5).abs() < 1e-3);
            let (flat, flon) = offset(lat, lon, bearing, 1_100.0);
            assert!((fence.distance_m(flat, flon) - 1_000.0).abs() < 1e-3);
        }
        assert!(!fence.contains(f64::NAN, lon));
        assert_eq!(fence.centre(), ll(lat, lon));
    }

    #[test]
    fn polygon_containment_and_distance() {
        let fence = square(48.85, 2.35, 0.001);
        let (south, west) = (48.85 - 0.001, 2.35 - 0.001);
        assert!(fence.contains(48.85, 2.35));
        // Boundary counts as inside: an edge and a corner.
        assert!(fence.contains(south, 2.35));
        assert!(fence.contains(south, west));
        assert!(!fence.contains(48.8489, 2.35));
        assert!(!fence.contains(48.86, 2.35));
        assert!(!fence.contains(f64::NAN, 2.35));
        assert_eq!(fence.distance_m(48.85, 2.35), 0.0);
        assert_eq!(fence.distance_m(south, 2.35), 0.0);
        // 0.001° of latitude south of the south edge: ~111.2 m.
        let d = fence.distance_m(48.848, 2.35);
        assert!((d - 111.19).abs() < 0.1, "{d}");
        // East of the east edge by 0.001° of longitude at ~48.85°.
        let d = fence.distance_m(48.85, 2.352);
        let expected = dist((48.85, 2.351), (48.85, 2.352));
        assert!((d - expected).abs() < 0.5, "{d} vs {expected}");
        // Diagonal from a corner.
        let d = fence.distance_m(48.848, 2.348);
        let expected = dist((48.849, 2.349), (48.848, 2.348));
        assert!((d - expected).abs() < 0.5, "{d} vs {expected}");
        let c = fence.centre();
        assert!((c.lat - 48.85).abs() < 1e-9 && (c.lon - 2.35).abs() < 1e-9);
        let empty = Geofence::Polygon { points: vec![] };
        assert!(empty.centre().lat.is_nan());
        assert!(!empty.contains(0.0, 0.0));
    }

    #[test]
    fn bounding_boxes() {
        let fence = square(48.85, 2.35, 0.001);
        let (min, max) = fence.bounding_box();
        assert!((min[0] - 2.349).abs() < 1e-12 && (min[1] - 48.849).abs() < 1e-12);
        assert!((max[0] - 2.351).abs() < 1e-12 && (max[1] - 48.851).abs() < 1e-12);

        let circle = Geofence::Circle {
            lat: 60.0,
            lon: 10.0,
            radius_m: 1_000.0,
        };
        let (min, max) = circle.bounding_box();
        let d_lat = 1_000.0 / EARTH_RADIUS_M * 180.0 / std::f64::consts::PI;
        assert!((max[1] - 60.0 - d_lat).abs() < 1e-6);
        assert!((60.0 - min[1] - d_lat).abs() < 1e-6);
        // At 60° a degree of longitude is half as long.
        assert!((max[0] - 10.0 - 2.0 * d_lat).abs() < 1e-5);
        // Every point of the circle lies in the box.
        for i in 0..360 {
            let (lat, lon) = offset(60.0, 10.0, i as f64, 1_000.0);
            assert!((min[0]..=max[0]).contains(&lon) && (min[1]..=max[1]).contains(&lat));
        }
        // Reaching a pole or the antimeridian: all longitudes.
        let polar = Geofence::Circle {
            lat: 89.99,
            lon: 0.0,
            radius_m: 5_000.0,
        };
        assert_eq!(polar.bounding_box().0[0], -180.0);
        assert_eq!(polar.bounding_box().1, [180.0, 90.0]);
        let dateline = Geofence::Circle {
            lat: 0.0,
            lon: 179.999,
            radius_m: 500.0,
        };
        assert_eq!(dateline.bounding_box().0[0], -180.0);
        assert!(dateline.contains(0.0, -179.999));
        assert!(Geofence::Polygon { points: vec![] }.bounding_box().0[0].is_nan());
    }

    // ---- index ----

    #[test]
    fn index_basics() {
        let index = GeofenceIndex::new(vec![
            (
                "home",
                Geofence::Circle {
                    lat: 48.85,
                    lon: 2.35,
                    radius_m: 100.0,
                },
            ),
            ("office", square(48.85, 2.35, 0.0005)),
            (
                "far",
                Geofence::Circle {
                    lat: 51.5,
                    lon: -0.12,
                    radius_m: 100.0,
                },
            ),
            (
                "broken",
                Geofence::Circle {
                    lat: f64::NAN,
                    lon: 0.0,
                    radius_m: 100.0,
                },
            ),
        ]);
        assert_eq!(index.len(), 4);
        assert!(!index.is_empty());
        let mut found: Vec<_> = index.containing(48.85, 2.35).copied().collect();
        found.sort_unstable();
        assert_eq!(found, ["home", "office"]);
        assert_eq!(index.containing(51.5, -0.12).collect::<Vec<_>>(), [&"far"]);
        assert_eq!(index.containing(0.0, 0.0).count(), 0);
        assert_eq!(index.containing(f64::NAN, 2.35).count(), 0);
        let empty: GeofenceIndex<u32> = GeofenceIndex::new(vec![]);
        assert!(empty.is_empty());
        assert_eq!(empty.containing(0.0, 0.0).count(), 0);
    }

    #[test]
    fn index_matches_brute_force() {
        let mut rng = SplitMix(42);
        let (lat0, lon0, span) = (48.85, 2.35, 0.25);
        let fences: Vec<Geofence> = (0..500)
            .map(|_| random_fence(&mut rng, lat0, lon0, span))
            .collect();
        let index = GeofenceIndex::new(fences.iter().cloned().enumerate().collect());
        assert_eq!(index.len(), 500);
        let mut hits = 0;
        for i in 0..2_000 {
            let (lat, lon) = match i % 10 {
                // Exactly on a polygon corner or a circle's centre.
                0 => match &fences[i % fences.len()] {
                    Geofence::Circle { lat, lon, .. } => (*lat, *lon),
                    Geofence::Polygon { points } => (points[1].lat, points[1].lon),
                },
                _ => (
                    rng.range(lat0 - span, lat0 + span),
                    rng.range(lon0 - span, lon0 + span),
                ),
            };
            let mut from_index: Vec<usize> = index.containing(lat, lon).copied().collect();
            from_index.sort_unstable();
            let brute: Vec<usize> = (0..fences.len())
                .filter(|&k| fences[k].contains(lat, lon))
                .collect();
            assert_eq!(from_index, brute, "fix {i}");
            for &k in &brute {
                assert_eq!(fences[k].distance_m(lat, lon), 0.0);
            }
            hits += brute.len();
        }
        // The test is only meaningful if fixes do hit fences.
        assert!(hits > 200, "{hits}");
    }

    #[test]
    fn random_fences_distance_consistent() {
        let mut rng = SplitMix(99);
        for _ in 0..200 {
            let fence = random_fence(&mut rng, 10.0, 20.0, 0.2);
            let (lat, lon) = (rng.range(9.8, 10.2), rng.range(19.8, 20.2));
            let d = fence.distance_m(lat, lon);
            assert!(d.is_finite() && d >= 0.0);
            assert_eq!(d == 0.0, fence.contains(lat, lon));
            // A polygon's boundary is never farther than its nearest corner.
            if let Geofence::Polygon { points } = &fence {
                let nearest_corner = points
                    .iter()
                    .map(|p| dist((lat, lon), (p.lat, p.lon)))
                    .fold(f64::INFINITY, f64::min);
                assert!(d <= nearest_corner + 1e-6);
            }
        }
    }
}
