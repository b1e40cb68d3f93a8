//! The guests of one set of definitions: in ID order for every pass over them, and
//! found by ID through a hash table.
//!
//! Not a B-tree, as they were. After the read, the cross-guest checks, the graph,
//! the keys' survey and the planner's facts look guests up by ID: a clone's
//! source, each of `dependencies`: tens of thousands of look-ups at 10,000
//! guests. A B-tree look-up walks four nodes, comparing keys one by one in each:
//! about 70 ns, measured on the project's machines, against 4 ns in a table of
//! places hashed by [`FastHasher`](crate::fasthash::FastHasher). The cross-guest
//! checks of 10,000 guests went from 10.2 to 7.8 ms.
//!
//! A guest's place in the list never moves: the list holds the guests in the
//! order they came, and the ID order is kept beside it as a list of (ID, place)
//! pairs. A guest that comes before others in ID order (a VM read after the
//! containers, with a lower ID) moves eight-byte pairs, and no place has to be
//! written again.

use crate::fasthash::FastMap;

use super::model::Guest;

/// Guests by ID, in ID order.
#[derive(Debug, Clone, Default)]
pub struct Guests {
    /// Boxed as the readers made them, on every core (a guest is about a
    /// kilobyte), in the order they came.
    #[allow(clippy::vec_box)]
    list: Vec<Box<Guest>>,
    /// Each ID with its guest's place in `list`, in ID order.
    order: Vec<(u32, u32)>,
    /// Each ID's place in `list`.
    places: FastMap<u32, u32>,
}

impl Guests {
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, id: &u32) -> Option<&Guest> {
        let at = *self.places.get(id)?;
        self.list.get(at as usize).map(|g| &**g)
    }

    pub fn get_mut(&mut self, id: &u32) -> Option<&mut Guest> {
        let at = *self.places.get(id)?;
        self.list.get_mut(at as usize).map(|g| &mut **g)
    }

    pub fn contains_key(&self, id: &u32) -> bool {
        self.places.contains_key(id)
    }

    /// The guests in ID order.
    pub fn values(&self) -> impl Iterator<Item = &Guest> {
        // Every place in the order is in the list: nothing is left out.
        self.order
            .iter()
            .filter_map(|&(_, at)| self.list.get(at as usize).map(|g| &**g))
    }

    /// The guests in ID order, each with its place: where it came among the
    /// guests, a number below [`Guests::len`] that never changes ([`Guests::place`]).
    pub fn placed(&self) -> impl Iterator<Item = (usize, &Guest)> {
        self.order
            .iter()
            .filter_map(|&(_, at)| self.list.get(at as usize).map(|g| (at as usize, &**g)))
    }

    /// The place of the guest with ID `id` ([`Guests::placed`]): for tables kept
    /// beside the guests, indexed by place, that find a guest's entry without
    /// reading the guest (a look-up by ID that reads the guest misses the cache
    /// at every step, at 100,000 guests).
    pub fn place(&self, id: u32) -> Option<usize> {
        self.places.get(&id).map(|&at| at as usize)
    }

    /// The IDs in order.
    pub fn keys(&self) -> impl Iterator<Item = &u32> {
        self.order.iter().map(|(id, _)| id)
    }

    /// Put `guest` under `id`, returning the guest it replaces, as a map does.
    pub fn insert(&mut self, id: u32, guest: Box<Guest>) -> Option<Box<Guest>> {
        let (old, added) = self.put(id, guest);
        if let Some(at) = added {
            let before = self.order.partition_point(|&(x, _)| x < id);
            self.order.insert(before, (id, at));
        }
        old
    }

    /// [`Guests::insert`] each of `guests` in turn (a later one replaces an
    /// earlier of the same ID), the ID order sorted once at the end: a file's
    /// guests come in the order of their names (`"1000"` before `"900"`).
    pub fn extend(&mut self, guests: impl IntoIterator<Item = (u32, Box<Guest>)>) {
        let mut sorted = true;
        for (id, guest) in guests {
            if let (_, Some(at)) = self.put(id, guest) {
                sorted &= self.order.last().is_none_or(|&(last, _)| last < id);
                self.order.push((id, at));
            }
        }
        if !sorted {
            // Each ID is in the order once.
            self.order.sort_unstable_by_key(|&(id, _)| id);
        }
    }

    /// Put `guest` under `id` in the list and the table: the guest it replaces,
    /// or, for a new ID, its place (which the caller puts in the ID order).
    fn put(&mut self, id: u32, guest: Box<Guest>) -> (Option<Box<Guest>>, Option<u32>) {
        if let Some(&at) = self.places.get(&id) {
            let old = self
                .list
                .get_mut(at as usize)
                .map(|old| std::mem::replace(old, guest));
            return (old, None);
        }
        // A list of 4 billion guests is not read (each is hundreds of bytes).
        let at = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        self.list.push(guest);
        self.places.insert(id, at);
        (None, Some(at))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn guest(id: u32, name: &str) -> Box<Guest> {
        let mut g = Guest::empty(super::super::GuestKind::Ct, id, "f.json", "p");
        g.name = name.to_string();
        Box::new(g)
    }

    /// Inserted one by one or all at once, in any order, with IDs given twice,
    /// the guests are what a `BTreeMap` holds after the same inserts: the same
    /// IDs in the same order, the last guest of each ID kept, each found by ID.
    #[test]
    fn guests_are_kept_as_a_btree_map_keeps_them() {
        let orders: [&[u32]; 6] = [
            &[],
            &[5],
            &[1, 2, 3, 900, 1000],
            &[1000, 900, 901, 10, 5, 7000],
            &[3, 3, 1, 3, 2, 1],
            &[9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 4, 9, 0],
        ];
        for ids in orders {
            let mut want: BTreeMap<u32, String> = BTreeMap::new();
            let mut one_by_one = Guests::default();
            let mut at_once = Guests::default();
            // Some already there before the bulk insert, as the VMs come after
            // the containers.
            at_once.insert(4, guest(4, "before"));
            at_once.insert(7000, guest(7000, "before"));
            let mut want_at_once: BTreeMap<u32, String> =
                [(4, "before".to_string()), (7000, "before".to_string())].into();
            for (i, &id) in ids.iter().enumerate() {
                let name = format!("{id}#{i}");
                let replaced = one_by_one.insert(id, guest(id, &name)).map(|g| g.name);
                assert_eq!(replaced, want.insert(id, name.clone()), "{ids:?}");
                want_at_once.insert(id, name);
            }
            at_once.extend(
                ids.iter()
                    .enumerate()
                    .map(|(i, &id)| (id, guest(id, &format!("{id}#{i}")))),
            );
            for (got, want) in [(&one_by_one, &want), (&at_once, &want_at_once)] {
                assert_eq!(got.len(), want.len());
                assert_eq!(got.is_empty(), want.is_empty());
                let names: Vec<(u32, &str)> =
                    got.values().map(|g| (g.id, g.name.as_str())).collect();
                let expected: Vec<(u32, &str)> =
                    want.iter().map(|(k, v)| (*k, v.as_str())).collect();
                assert_eq!(names, expected, "{ids:?}");
                assert!(got.keys().copied().eq(want.keys().copied()), "{ids:?}");
                // Places: each guest's own, each below the length, none twice.
                let mut places: Vec<usize> = Vec::new();
                for (at, g) in got.placed() {
                    assert_eq!(got.place(g.id), Some(at), "{ids:?}");
                    assert!(at < got.len());
                    places.push(at);
                }
                assert!(got.placed().map(|(_, g)| g.id).eq(got.keys().copied()));
                places.sort_unstable();
                places.dedup();
                assert_eq!(places.len(), got.len(), "{ids:?}");
                for (id, name) in want {
                    assert_eq!(got.get(id).map(|g| g.name.as_str()), Some(name.as_str()));
                    assert!(got.contains_key(id));
                }
                for absent in [11, 12, 899, u32::MAX] {
                    assert_eq!(got.place(absent).is_some(), want.contains_key(&absent));
                    assert_eq!(got.get(&absent).is_some(), want.contains_key(&absent));
                    assert_eq!(got.contains_key(&absent), want.contains_key(&absent));
                }
            }
            if let Some(&id) = ids.first() {
                if let Some(g) = one_by_one.get_mut(&id) {
                    g.name = "changed".into();
                }
                assert_eq!(
                    one_by_one.get(&id).map(|g| g.name.as_str()),
                    Some("changed")
                );
            }
        }
    }
}
