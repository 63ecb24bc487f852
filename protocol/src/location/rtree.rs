//! An R-tree over many geofences' bounding boxes, answering "which fences
//! contain this fix?" without testing them all.

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use super::{Geofence, Shape};

/// One fence of a [`GeofenceIndex`].
#[derive(Clone)]
struct Entry<K> {
    /// The caller's key.
    key: K,
    /// The fence, prepared.
    shape: Shape,
}

/// Many geofences indexed by their bounding boxes in an R-tree, to find the
/// fences containing a fix without testing them all.
#[derive(Clone)]
pub struct GeofenceIndex<K> {
    /// Bounding boxes, each with the index of its entry.
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
    /// The fences, in the order given.
    entries: Vec<Entry<K>>,
}

impl<K> std::fmt::Debug for GeofenceIndex<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeofenceIndex")
            .field("len", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl<K> GeofenceIndex<K> {
    /// Builds the index (bulk loading the R-tree).
    ///
    /// Fences should be validated first; a fence whose bounding box is not
    /// finite (e.g. with NaN coordinates) is kept but never matches.
    pub fn new(items: Vec<(K, Geofence)>) -> Self {
        let mut boxes = Vec::with_capacity(items.len());
        let mut entries = Vec::with_capacity(items.len());
        for (i, (key, fence)) in items.into_iter().enumerate() {
            let (min, max) = fence.bounding_box();
            if min.iter().chain(&max).all(|v| v.is_finite()) {
                boxes.push(GeomWithData::new(Rectangle::from_corners(min, max), i));
            }
            entries.push(Entry {
                key,
                shape: fence.shape(),
            });
        }
        Self {
            tree: RTree::bulk_load(boxes),
            entries,
        }
    }

    /// Keys of the fences containing the fix (boundary included), in no
    /// particular order: candidates from the R-tree, then the exact test of
    /// [`Geofence::contains`].
    pub fn containing(&self, lat: f64, lon: f64) -> impl Iterator<Item = &K> + '_ {
        self.tree
            .locate_in_envelope_intersecting(&AABB::from_point([lon, lat]))
            .map(|candidate| &self.entries[candidate.data])
            .filter(move |entry| entry.shape.contains(lat, lon))
            .map(|entry| &entry.key)
    }

    /// Number of fences in the index.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the index has no fence.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
