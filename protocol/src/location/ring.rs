//! The costly checks of a polygon's ring, kept near-linear because the ring
//! comes from untrusted input (one push may carry forty 1,000-point
//! polygons, and the server validates every one):
//!
//! * [`is_simple`]: whether no two edges meet other than adjacent edges at
//!   their shared corner. A Shamos–Hoey sweep over the corners in
//!   lexicographic order with exact orientation predicates: O(n log n)
//!   predicates, where checking every pair of edges costs n². (The active
//!   edges are a vector, so insertions move up to n indices: a memmove of
//!   a few kilobytes at most for the 1,000-point limit.)
//! * [`span_exceeds`]: whether two points are more than a distance apart.
//!   A bound from the first point decides most rings in O(n); the rest are
//!   measured by rotating calipers over the convex hull on the tangent
//!   plane, O(n log n), where comparing every pair of hull corners costs n².
//!
//! Both are pure functions of the coordinates (x = longitude, y = latitude,
//! in degrees), so a device and a server of the same version reach the
//! same verdict on the same ring. (Versions before these checks compared
//! every pair of hull corners by great-circle distance: they refuse rings
//! whose span is within a metre above the limit, which these accept.) The
//! module depends on `geo` only, not on its parent.

use std::cmp::Ordering;

use geo::kernels::{Kernel, Orientation, RobustKernel};
use geo::{ConvexHull, Coord, Distance, Haversine, Intersects, Line, MultiPoint, Point};

/// Lexicographic order of points: by x, then by y. Coordinates are finite
/// (checked before), so `-0.0` and `0.0` are the same point here.
fn lex(a: Coord<f64>, b: Coord<f64>) -> Ordering {
    a.x.partial_cmp(&b.x)
        .unwrap_or(Ordering::Equal)
        .then(a.y.partial_cmp(&b.y).unwrap_or(Ordering::Equal))
}

/// Whether the closed ring is simple: its edges meet only where adjacent
/// edges share their corner.
///
/// Expects what `validate_polygon` checked before: at least 4 finite points,
/// closed, no point equal to the one before it, and no spike (two adjacent
/// edges folding back over each other), so adjacent edges meet only at
/// their shared corner and are never tested for contact (only ordered,
/// when both start at the same corner).
///
/// A corner repeated anywhere else in the ring is a touch, found first by
/// sorting. With all corners distinct, each corner is the end of exactly two
/// edges, and the sweep visits corners in lexicographic order: it removes
/// the edges ending there, then inserts those starting there, keeping the
/// active edges sorted from bottom to top. Any two edges that become
/// neighbours are tested for contact, and an inserted corner that lies on
/// an active edge is a contact at once. The leftmost contact between two
/// non-adjacent edges is always found this way, before the order could be
/// broken by it.
pub(super) fn is_simple(ring: &[Coord<f64>]) -> bool {
    let edges = ring.len() - 1;
    let mut corners: Vec<usize> = (0..edges).collect();
    corners.sort_by(|&a, &b| lex(ring[a], ring[b]));
    if corners
        .windows(2)
        .any(|w| lex(ring[w[0]], ring[w[1]]) == Ordering::Equal)
    {
        return false;
    }
    let sweep = Sweep { ring, edges };
    // Active edges, from bottom to top. At most `edges` entries, so moving
    // them on insertion and removal is a small memmove.
    let mut active: Vec<usize> = Vec::with_capacity(edges);
    for &corner in &corners {
        let here = ring[corner];
        let incident = [(corner + edges - 1) % edges, corner];
        for &edge in &incident {
            if sweep.left(edge) != here {
                let Some(at) = active.iter().position(|&e| e == edge) else {
                    continue;
                };
                active.remove(at);
                if at > 0 && at < active.len() && sweep.touch(active[at - 1], active[at]) {
                    return false;
                }
            }
        }
        for &edge in &incident {
            if sweep.left(edge) != here {
                continue;
            }
            let mut contact = false;
            let at = match active.binary_search_by(|&other| {
                sweep.order(other, edge, corner).unwrap_or_else(|| {
                    contact = true;
                    Ordering::Equal
                })
            }) {
                Ok(at) | Err(at) => at,
            };
            if contact {
                return false;
            }
            active.insert(at, edge);
            if at > 0 && sweep.touch(active[at - 1], edge) {
                return false;
            }
            if at + 1 < active.len() && sweep.touch(edge, active[at + 1]) {
                return false;
            }
        }
    }
    true
}

/// The ring being swept; edge `i` runs from corner `i` to corner `i + 1`.
struct Sweep<'a> {
    /// The closed ring.
    ring: &'a [Coord<f64>],
    /// Number of edges (points minus the closing one).
    edges: usize,
}

impl Sweep<'_> {
    /// The lexicographically smaller end of an edge.
    fn left(&self, edge: usize) -> Coord<f64> {
        let (a, b) = (self.ring[edge], self.ring[edge + 1]);
        if lex(a, b) == Ordering::Greater { b } else { a }
    }

    /// The lexicographically larger end of an edge.
    fn right(&self, edge: usize) -> Coord<f64> {
        let (a, b) = (self.ring[edge], self.ring[edge + 1]);
        if lex(a, b) == Ordering::Greater { a } else { b }
    }

    /// Whether two edges share a corner.
    fn adjacent(&self, a: usize, b: usize) -> bool {
        (a + 1) % self.edges == b || (b + 1) % self.edges == a
    }

    /// Whether two edges that are not adjacent touch or cross (adjacent
    /// edges meet only at their corner, which is allowed).
    fn touch(&self, a: usize, b: usize) -> bool {
        !self.adjacent(a, b)
            && Line::new(self.ring[a], self.ring[a + 1])
                .intersects(&Line::new(self.ring[b], self.ring[b + 1]))
    }

    /// Where the active edge `other` lies relative to `edge`, which is being
    /// inserted at its left end, `corner`: below (`Less`) or above
    /// (`Greater`). `None` when they touch there, which makes the ring not
    /// simple.
    ///
    /// `other` is active, so `corner` lies within its lexicographic extent:
    /// a corner on its line is a corner on the edge.
    fn order(&self, other: usize, edge: usize, corner: usize) -> Option<Ordering> {
        let here = self.ring[corner];
        match RobustKernel::orient2d(self.left(other), self.right(other), here) {
            Orientation::CounterClockwise => Some(Ordering::Less),
            Orientation::Clockwise => Some(Ordering::Greater),
            // Both edges start at this corner: the one turning left is above.
            Orientation::Collinear if self.left(other) == here && self.adjacent(other, edge) => {
                match RobustKernel::orient2d(here, self.right(other), self.right(edge)) {
                    Orientation::CounterClockwise => Some(Ordering::Less),
                    Orientation::Clockwise => Some(Ordering::Greater),
                    Orientation::Collinear => None,
                }
            }
            Orientation::Collinear => None,
        }
    }
}

/// Whether two of the points are more than `max_m` metres apart.
///
/// The distance from the first point to the farthest, `r`, bounds the span
/// (`r <= span <= 2r`) and decides most rings. Otherwise the points are
/// projected orthographically onto the plane tangent to the sphere at the
/// first point, and the diameter of their convex hull is measured by
/// rotating calipers. Projection never lengthens a chord, and within
/// `max_m` of the tangent point it shortens one by less than half a metre
/// at 50 km (the heights above the plane differ by under 200 m), so the
/// measured span is the great-circle span rounded down by under a metre.
/// `radius_m` is the sphere's radius, the one `geo`'s `Haversine` uses.
pub(super) fn span_exceeds(points: &[Coord<f64>], max_m: f64, radius_m: f64) -> bool {
    let first = Point::from(points[0]);
    let r = points
        .iter()
        .map(|p| Haversine.distance(first, Point::from(*p)))
        .fold(0.0, f64::max);
    if r > max_m {
        return true;
    }
    if 2.0 * r <= max_m {
        return false;
    }
    let (lat0, lon0) = (points[0].y.to_radians(), points[0].x.to_radians());
    let projected: Vec<Point<f64>> = points
        .iter()
        .map(|p| {
            let (lat, dlon) = (p.y.to_radians(), p.x.to_radians() - lon0);
            // East and north components of the unit vector to the point,
            // in the tangent plane at the first point.
            Point::new(
                lat.cos() * dlon.sin(),
                lat0.cos() * lat.sin() - lat0.sin() * lat.cos() * dlon.cos(),
            )
        })
        .collect();
    let hull = MultiPoint::from(projected).convex_hull();
    let chord = diameter(&hull.exterior().0);
    2.0 * radius_m * (chord / 2.0).min(1.0).asin() > max_m
}

/// The largest distance between two corners of a convex ring (closed,
/// counter-clockwise, as `geo`'s convex hull gives it), by rotating
/// calipers: for each edge, the corner farthest from its line is found by
/// advancing one pointer around the ring, so the whole ring costs O(n).
fn diameter(ring: &[Coord<f64>]) -> f64 {
    let dist = |a: Coord<f64>, b: Coord<f64>| (a.x - b.x).hypot(a.y - b.y);
    let ring = &ring[..ring.len().saturating_sub(1)];
    // The calipers need a strictly convex ring: corners on a straight stretch
    // of the hull would stall the pointer on a plateau.
    let corners: Vec<Coord<f64>> = (0..ring.len())
        .filter(|&i| {
            let prev = ring[(i + ring.len() - 1) % ring.len()];
            let next = ring[(i + 1) % ring.len()];
            RobustKernel::orient2d(prev, ring[i], next) != Orientation::Collinear
        })
        .map(|i| ring[i])
        .collect();
    let n = corners.len();
    if n < 3 {
        // All on one line: its two extreme points.
        return match (
            ring.iter().copied().min_by(|a, b| lex(*a, *b)),
            ring.iter().copied().max_by(|a, b| lex(*a, *b)),
        ) {
            (Some(a), Some(b)) => dist(a, b),
            _ => 0.0,
        };
    }
    // Twice the area of the triangle (a, b, c): the distance of c from the
    // line ab, scaled by |ab|.
    let area = |a: Coord<f64>, b: Coord<f64>, c: Coord<f64>| {
        ((b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)).abs()
    };
    let mut best = 0.0f64;
    let mut j = 1;
    for i in 0..n {
        let (a, b) = (corners[i], corners[(i + 1) % n]);
        // The area rises then falls around a strictly convex ring; j only
        // moves forward and goes round at most twice over the whole loop.
        let mut steps = 0;
        while steps < n && area(a, b, corners[(j + 1) % n]) > area(a, b, corners[j]) {
            j = (j + 1) % n;
            steps += 1;
        }
        // The next corner too: when an edge is parallel to this one, both
        // of its ends are antipodal to it.
        let next = corners[(j + 1) % n];
        best = best
            .max(dist(a, corners[j]))
            .max(dist(b, corners[j]))
            .max(dist(a, next))
            .max(dist(b, next));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::tests::SplitMix;
    use crate::location::{EARTH_RADIUS_M, LatLon};
    use geo::Validation;

    /// The check that the sweep replaced: every pair of edges (`geo`'s
    /// validity check), plus the spike test that `geo` does not make.
    fn simple_by_every_pair(ring: &[Coord<f64>]) -> bool {
        let polygon = geo::Polygon::new(geo::LineString::from(ring.to_vec()), vec![]);
        polygon.is_valid()
    }

    /// A ring passing the checks made before [`is_simple`] (closed, no
    /// repeat of the previous point, not all on one line, no spike).
    fn admissible(ring: &[Coord<f64>]) -> bool {
        let points: Vec<LatLon> = ring.iter().map(|c| LatLon { lat: c.y, lon: c.x }).collect();
        ring.windows(2).all(|w| w[0] != w[1])
            && !super::super::all_collinear(&points)
            && !super::super::has_spike(&points)
    }

    /// Random rings on a small grid, where collinear edges, corners on
    /// edges, repeated corners and vertical edges are common: the sweep
    /// agrees with the pairwise check on every one.
    #[test]
    fn the_sweep_agrees_with_every_pair_on_degenerate_rings() {
        let mut rng = SplitMix(7);
        let (mut simple, mut not_simple) = (0, 0);
        for _ in 0..200_000 {
            let grid = 2 + rng.below(5);
            let corners = 3 + rng.below(8) as usize;
            let mut ring: Vec<Coord<f64>> = (0..corners)
                .map(|_| Coord {
                    x: rng.below(grid) as f64 * 0.001,
                    y: rng.below(grid) as f64 * 0.001,
                })
                .collect();
            ring.push(ring[0]);
            if !admissible(&ring) {
                continue;
            }
            let expected = simple_by_every_pair(&ring);
            assert_eq!(is_simple(&ring), expected, "{ring:?}");
            if expected {
                simple += 1;
            } else if distinct_corners(&ring) {
                // Refused by the sweep itself, not by the repeated-corner
                // shortcut before it.
                not_simple += 1;
            }
        }
        // Both verdicts were exercised in quantity.
        assert!(
            simple > 5_000 && not_simple > 5_000,
            "{simple} {not_simple}"
        );
    }

    fn distinct_corners(ring: &[Coord<f64>]) -> bool {
        let mut corners = ring[..ring.len() - 1].to_vec();
        corners.sort_by(|a, b| lex(*a, *b));
        corners.windows(2).all(|w| w[0] != w[1])
    }

    /// Star-shaped rings of 50 to 300 corners snapped to a coarse grid:
    /// long stretches of collinear edges, corners landing on other edges,
    /// vertical edges and many edges active at once. Snapping breaks some
    /// (edges then touch or cross); the sweep agrees with the pairwise
    /// check on all of them.
    #[test]
    fn the_sweep_agrees_with_every_pair_on_large_snapped_rings() {
        let mut rng = SplitMix(13);
        let (mut simple, mut not_simple) = (0, 0);
        for _ in 0..2_000 {
            let corners = 50 + rng.below(251) as usize;
            let step = [0.0005, 0.001, 0.002][rng.below(3) as usize];
            let mut angles: Vec<f64> = (0..corners)
                .map(|_| rng.below(1 << 20) as f64 / f64::from(1 << 20) * std::f64::consts::TAU)
                .collect();
            angles.sort_by(f64::total_cmp);
            let snap = |v: f64| (v / step).round() * step;
            let mut ring: Vec<Coord<f64>> = angles
                .iter()
                .map(|a| {
                    let r = 0.005 + rng.below(1000) as f64 * 0.00002;
                    Coord {
                        x: snap(r * a.cos()),
                        y: snap(r * a.sin()),
                    }
                })
                .collect();
            ring.dedup();
            ring.push(ring[0]);
            if ring.len() < 4 || !admissible(&ring) {
                continue;
            }
            let expected = simple_by_every_pair(&ring);
            assert_eq!(is_simple(&ring), expected, "{ring:?}");
            if expected {
                simple += 1;
            } else if distinct_corners(&ring) {
                not_simple += 1;
            }
        }
        assert!(simple > 40 && not_simple > 100, "{simple} {not_simple}");
    }

    /// Larger rings: random star-shaped (simple) ones, then the same with
    /// one corner moved at random (often not simple).
    #[test]
    fn the_sweep_agrees_with_every_pair_on_larger_rings() {
        let mut rng = SplitMix(11);
        let mut broken = 0;
        for round in 0..2_000 {
            let corners = 3 + rng.below(60) as usize;
            let mut angles: Vec<f64> = (0..corners)
                .map(|_| rng.below(1 << 20) as f64 / f64::from(1 << 20) * std::f64::consts::TAU)
                .collect();
            angles.sort_by(f64::total_cmp);
            angles.dedup();
            let mut ring: Vec<Coord<f64>> = angles
                .iter()
                .map(|a| {
                    let r = 0.002 + rng.below(1000) as f64 * 0.00001;
                    Coord {
                        x: 2.0 + r * a.cos(),
                        y: 48.0 + r * a.sin(),
                    }
                })
                .collect();
            if round % 2 == 1 {
                let k = rng.below(ring.len() as u64) as usize;
                ring[k] = Coord {
                    x: 2.0 + (rng.below(1000) as f64 - 500.0) * 0.00001,
                    y: 48.0 + (rng.below(1000) as f64 - 500.0) * 0.00001,
                };
            }
            ring.push(ring[0]);
            if !admissible(&ring) {
                continue;
            }
            let expected = simple_by_every_pair(&ring);
            assert_eq!(is_simple(&ring), expected, "{ring:?}");
            broken += usize::from(!expected);
        }
        assert!(broken > 100, "{broken}");
    }

    /// The calipers find the same diameter as comparing every pair of
    /// points, including on grids where many points are collinear.
    #[test]
    fn the_calipers_find_the_farthest_pair() {
        let mut rng = SplitMix(3);
        for _ in 0..20_000 {
            let grid = 2 + rng.below(12);
            let count = 1 + rng.below(40) as usize;
            let points: Vec<Point<f64>> = (0..count)
                .map(|_| Point::new(rng.below(grid) as f64, rng.below(grid) as f64))
                .collect();
            let every_pair = points
                .iter()
                .flat_map(|a| {
                    points
                        .iter()
                        .map(move |b| (a.x() - b.x()).hypot(a.y() - b.y()))
                })
                .fold(0.0, f64::max);
            let hull = MultiPoint::from(points).convex_hull();
            assert_eq!(
                diameter(&hull.exterior().0),
                every_pair,
                "{:?}",
                hull.exterior().0
            );
        }
    }

    /// The projected span is the great-circle span rounded down by under a
    /// metre, at the 25-50 km spans where it is used, at any latitude.
    #[test]
    fn the_projected_span_is_the_great_circle_span() {
        let mut rng = SplitMix(5);
        for _ in 0..300 {
            let lat = rng.below(170) as f64 - 85.0 + 0.5;
            let lon = rng.below(340) as f64 - 170.0 + 0.5;
            let points: Vec<LatLon> = (0..40)
                .map(|_| LatLon {
                    lat: lat + (rng.below(2000) as f64 - 1000.0) * 0.0002,
                    lon: lon + (rng.below(2000) as f64 - 1000.0) * 0.0002 / lat.to_radians().cos(),
                })
                .collect();
            let true_span = points
                .iter()
                .flat_map(|a| {
                    points
                        .iter()
                        .map(move |b| Haversine.distance(a.point(), b.point()))
                })
                .fold(0.0, f64::max);
            if true_span < 1_000.0 {
                continue;
            }
            // Just over the true span: never exceeded. Just under: exceeded
            // unless the rounding (under a metre) hides it.
            let coords: Vec<Coord<f64>> = points.iter().map(|p| p.coord()).collect();
            let exceeds = |max_m: f64| span_exceeds(&coords, max_m, EARTH_RADIUS_M);
            assert!(!exceeds(true_span + 1e-6), "{true_span}");
            assert!(exceeds(true_span - 1.0), "{true_span}");
        }
    }
}
