//! Precision levels and the approximate grid: a fix coarsened to a cell of
//! about 2 km, with cells about as wide at every latitude.

use serde::{Deserialize, Serialize};

use super::LocationError;

/// Size of a grid cell of the approximate precision, in degrees of latitude
/// (about 2 km). Cells are made about as wide, in kilometres, at every
/// latitude.
pub const GRID_DEG: f64 = 0.018;

/// Accuracy, in metres, that an approximate (snapped) fix reports at least.
pub const APPROXIMATE_ACCURACY_M: f64 = 2000.0;

/// Number of latitude rows of the grid from the equator to a pole.
const GRID_ROWS_PER_HEMISPHERE: i64 = 5_000;

/// Tolerance subtracted before rounding the number of cells of a grid row up,
/// so that an exact integer computed with a rounding error does not get one
/// cell more, and so that one-ulp differences between platforms' `cos` do not
/// change the grid.
const CELL_COUNT_TOLERANCE: f64 = 1e-7;

/// How precisely a location is shared. Ordered from least to most precise:
/// `Off < Approximate < Precise`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Precision {
    /// The location is not shared at all.
    Off,
    /// The location is snapped to a grid cell of about 2 km (see [`snap`]).
    Approximate,
    /// The location is shared as measured.
    Precise,
}

impl Precision {
    /// The name used in JSON and in settings: `"off"`, `"approximate"` or
    /// `"precise"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Approximate => "approximate",
            Self::Precise => "precise",
        }
    }

    /// Parses a name produced by [`Precision::as_str`]; `None` for anything
    /// else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(Self::Off),
            "approximate" => Some(Self::Approximate),
            "precise" => Some(Self::Precise),
            _ => None,
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Precision {
    type Err = LocationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or(LocationError::UnknownPrecision)
    }
}

/// Snaps a latitude to its grid row; returns the row index and the snapped
/// latitude.
fn snap_lat(lat: f64) -> (i64, f64) {
    // `as` saturates, and the clamp keeps the row on the globe.
    let row = ((lat / GRID_DEG).round() as i64)
        .clamp(-GRID_ROWS_PER_HEMISPHERE, GRID_ROWS_PER_HEMISPHERE);
    (row, (row as f64 * GRID_DEG).clamp(-90.0, 90.0))
}

/// Number of cells around the parallel at `snapped_lat`: enough for each
/// cell to be at most about [`GRID_DEG`] of latitude wide, and at least one
/// (at the poles a single cell covers every longitude).
pub(super) fn cells_around(snapped_lat: f64) -> i64 {
    let exact = 360.0 * snapped_lat.to_radians().cos() / GRID_DEG;
    ((exact - CELL_COUNT_TOLERANCE).ceil() as i64).max(1)
}

/// Snaps a fix to the centre of its cell of the approximate grid.
///
/// The latitude is snapped to the nearest multiple of [`GRID_DEG`] (at most
/// ±90). The longitude is snapped to the nearest multiple of a step chosen so
/// that a whole number of cells, each at most about 2 km wide, goes around the
/// snapped latitude's parallel (near the poles the step grows, up to 360° at
/// the poles themselves, where every longitude is the same place). The result
/// is wrapped into `[-180, 180]`.
///
/// The snapped point is within half a cell of the input, and snapping is
/// idempotent bit for bit: `snap(snap(p)) == snap(p)`. Non-finite input gives
/// `(NaN, NaN)`; validate with [`check_coordinates`](super::check_coordinates) first.
pub fn snap(lat: f64, lon: f64) -> (f64, f64) {
    if !lat.is_finite() || !lon.is_finite() {
        return (f64::NAN, f64::NAN);
    }
    let (_, snapped_lat) = snap_lat(lat);
    let cells = cells_around(snapped_lat);
    let step = 360.0 / cells as f64;
    let mut column = ((lon / step).round() as i64).rem_euclid(cells);
    if column > cells / 2 {
        column -= cells;
    }
    let snapped_lon = (column as f64 * step).clamp(-180.0, 180.0);
    (snapped_lat, snapped_lon)
}

/// Largest difference, in degrees (about 0.1 mm), that [`is_snapped`] allows
/// between a point and its grid centre.
const SNAPPED_TOLERANCE_DEG: f64 = 1e-9;

/// Whether a point is a centre of the approximate grid, i.e. what [`snap`]
/// returns (`-180` is not: `snap` wraps that meridian to `+180` where it is
/// on the grid).
///
/// A difference of a few units in the last place is allowed, because a
/// decimal round trip (e.g. JSON parsed by `serde_json` without its
/// `float_roundtrip` feature) does not always give back the exact `f64`.
pub fn is_snapped(lat: f64, lon: f64) -> bool {
    let (s_lat, s_lon) = snap(lat, lon);
    (s_lat - lat).abs() <= SNAPPED_TOLERANCE_DEG && (s_lon - lon).abs() <= SNAPPED_TOLERANCE_DEG
}

/// Coarsens a fix to a precision: `None` for [`Precision::Off`]; for
/// [`Precision::Approximate`] the [`snap`]ped point with an accuracy of at
/// least [`APPROXIMATE_ACCURACY_M`]; for [`Precision::Precise`] the fix
/// unchanged. Returns `(lat, lon, accuracy_m)`.
///
/// Validate the fix first ([`check_coordinates`](super::check_coordinates), [`check_accuracy`](super::check_accuracy)).
pub fn apply_precision(
    precision: Precision,
    lat: f64,
    lon: f64,
    accuracy_m: f64,
) -> Option<(f64, f64, f64)> {
    match precision {
        Precision::Off => None,
        Precision::Approximate => {
            let (s_lat, s_lon) = snap(lat, lon);
            Some((s_lat, s_lon, accuracy_m.max(APPROXIMATE_ACCURACY_M)))
        }
        Precision::Precise => Some((lat, lon, accuracy_m)),
    }
}
