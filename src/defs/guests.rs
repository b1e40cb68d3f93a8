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
//!
//! Side by side in memory. The guests are held in runs, each one allocation
//! with its guests one after the other (the container reader's batches: `load`
//! reads a file's containers 32 at a time, each batch into a run of its own),
//! not each in a box of its own. The passes over every guest (the graph, the
//! cross-guest checks, the scripts, the keys) go in ID order, and a file's
//! guests are read in the order written, which is the ID order in the files
//! seen: such a pass reads memory front to back, and the processor fetches
//! ahead of it. Boxed one by one, the guests (976 bytes, in the allocator's
//! 1 KiB blocks) came from mimalloc in an order that went one ahead and one
//! back within each 4 KiB, and those passes took half as long again. At
//! 10,004 guests (medians of 15): the graph 5.7 ms against 3.8 now, the
//! cross-guest checks 7.9 against 4.8, the scripts' hashes 2.0 against 1.5; a
//! plan, in paired runs (31), 6.6 ms less (IQR 2.7 to 13.5). At 100,004 guests:
//! the checks 89 against 57 ms, a plan 61 ms less (9 pairs, IQR 13 to 83).

use crate::fasthash::FastMap;

use super::model::Guest;

/// Guests by ID, in ID order.
#[derive(Debug, Clone, Default)]
pub struct Guests {
    /// The guests in runs, as the readers made them, on every core (a guest is
    /// about a kilobyte). A guest another of its ID replaced stays in its run,
    /// found from no place.
    runs: Vec<Vec<Guest>>,
    /// Each place's guest, by its run and its index in the run: the places
    /// in the order the guests came.
    list: Vec<(u32, u32)>,
    /// Each ID with its guest's place in `list`, in ID order.
    order: Vec<(u32, u32)>,
    /// Each ID's place in `list`.
    places: FastMap<u32, u32>,
}

/// A guest of a run ([`Guests::add_runs`]): its ID, its run, its index there.
pub(crate) type InRun = (u32, usize, usize);

impl Guests {
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, id: &u32) -> Option<&Guest> {
        self.at(*self.places.get(id)?)
    }

    pub fn get_mut(&mut self, id: &u32) -> Option<&mut Guest> {
        let (run, i) = *self.list.get(*self.places.get(id)? as usize)?;
        self.runs.get_mut(run as usize)?.get_mut(i as usize)
    }

    /// The guest at place `at`.
    fn at(&self, at: u32) -> Option<&Guest> {
        let (run, i) = *self.list.get(at as usize)?;
        self.runs.get(run as usize)?.get(i as usize)
    }

    pub fn contains_key(&self, id: &u32) -> bool {
        self.places.contains_key(id)
    }

    /// The guests in ID order.
    pub fn values(&self) -> impl Iterator<Item = &Guest> {
        // Every place in the order is in the list: nothing is left out.
        self.order.iter().filter_map(|&(_, at)| self.at(at))
    }

    /// The guests in ID order, each with its place: where it came among the
    /// guests, a number below [`Guests::len`] that never changes ([`Guests::place`]).
    pub fn placed(&self) -> impl Iterator<Item = (usize, &Guest)> {
        self.order
            .iter()
            .filter_map(|&(_, at)| self.at(at).map(|g| (at as usize, g)))
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
    pub fn insert(&mut self, id: u32, guest: Guest) -> Option<Guest> {
        if let Some(old) = self.get_mut(&id) {
            return Some(std::mem::replace(old, guest));
        }
        self.runs.push(vec![guest]);
        let at = self.add_place(id, self.runs.len() - 1, 0);
        let before = self.order.partition_point(|&(x, _)| x < id);
        self.order.insert(before, (id, at));
        None
    }

    /// [`Guests::insert`] each of `guests` in turn (a later one replaces an
    /// earlier of the same ID), as one run.
    pub fn extend(&mut self, guests: impl IntoIterator<Item = (u32, Guest)>) {
        let mut run = Vec::new();
        let mut kept = Vec::new();
        for (id, guest) in guests {
            kept.push((id, 0, run.len()));
            run.push(guest);
        }
        self.add_runs(vec![run], kept);
    }

    /// Add `runs` of guests, and the guests of them that `kept` names, in turn:
    /// each its ID, its run (by its place in `runs`) and its index there. A later
    /// one replaces an earlier of the same ID, as [`Guests::insert`] does; a
    /// guest `kept` does not name stays in its run, found from no place. The ID
    /// order is sorted once at the end: a file's guests come in the order of
    /// their names (`"1000"` before `"900"`).
    pub(crate) fn add_runs(
        &mut self,
        runs: Vec<Vec<Guest>>,
        kept: impl IntoIterator<Item = InRun>,
    ) {
        let first = self.runs.len();
        self.runs.extend(runs);
        let mut sorted = true;
        for (id, run, i) in kept {
            let (run, i) = (first + run, i);
            if let Some(&at) = self.places.get(&id) {
                self.list[at as usize] = (narrow(run), narrow(i));
                continue;
            }
            let at = self.add_place(id, run, i);
            sorted &= self.order.last().is_none_or(|&(last, _)| last < id);
            self.order.push((id, at));
        }
        if !sorted {
            // Each ID is in the order once.
            self.order.sort_unstable_by_key(|&(id, _)| id);
        }
    }

    /// A new place for the guest of `id` at index `i` of run `run`; the caller
    /// puts it in the ID order.
    fn add_place(&mut self, id: u32, run: usize, i: usize) -> u32 {
        let at = narrow(self.list.len());
        self.list.push((narrow(run), narrow(i)));
        self.places.insert(id, at);
        at
    }
}

/// A count of guests or runs as the tables hold it: 4 billion guests are not
/// read (each is hundreds of bytes).
fn narrow(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn guest(id: u32, name: &str) -> Guest {
        let mut g = Guest::empty(super::super::GuestKind::Ct, id, "f.json", "p");
        g.name = name.to_string();
        g
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

    /// Runs added with the guests they keep, as the container reader adds its
    /// batches: the guests are those a map holds after inserting the kept ones in
    /// turn (a later one of an ID replacing the earlier, in another run or the
    /// same), and a guest no one keeps is not found; each run's guests stay side
    /// by side, in its order.
    #[test]
    fn runs_keep_the_guests_they_name_side_by_side() {
        let mut got = Guests::default();
        got.insert(7, guest(7, "vm before"));
        let runs = vec![
            vec![guest(900, "a"), guest(901, "b"), guest(5, "dead")],
            vec![guest(1000, "c"), guest(900, "d")],
            Vec::new(),
            vec![guest(7, "e")],
        ];
        // 5 is in a run but not kept; 900 twice, the later (run 1) kept.
        let kept = [
            (900, 0, 0),
            (901, 0, 1),
            (1000, 1, 0),
            (900, 1, 1),
            (7, 3, 0),
        ];
        got.add_runs(runs, kept);
        let names: Vec<(u32, &str)> = got.values().map(|g| (g.id, g.name.as_str())).collect();
        assert_eq!(names, [(7, "e"), (900, "d"), (901, "b"), (1000, "c")]);
        assert_eq!(got.len(), 4);
        assert!(!got.contains_key(&5) && got.get(&5).is_none());
        assert!(got.keys().copied().eq([7, 900, 901, 1000]));
        for (at, g) in got.placed() {
            assert_eq!(got.place(g.id), Some(at));
        }
        // Side by side: 900 ("d") is the guest after 1000 ("c") in their run's
        // memory.
        let addr = |id: u32| got.get(&id).map(|g| std::ptr::from_ref(g) as usize);
        let size = std::mem::size_of::<Guest>();
        assert_eq!(addr(1000).map(|a| a + size), addr(900));
        // A guest inserted after replaces in place, and is found.
        let old = got.insert(901, guest(901, "f")).map(|g| g.name);
        assert_eq!(old.as_deref(), Some("b"));
        assert_eq!(got.get(&901).map(|g| g.name.as_str()), Some("f"));
        assert_eq!(got.len(), 4);
    }
}
