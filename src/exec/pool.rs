//! Resource pools: what Proxmox (and LXC) cannot do concurrently.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

/// A counting semaphore.
pub struct Semaphore {
    count: Mutex<usize>,
    cv: Condvar,
}

impl Semaphore {
    pub fn new(n: usize) -> Semaphore {
        Semaphore {
            count: Mutex::new(n.max(1)),
            cv: Condvar::new(),
        }
    }

    pub fn acquire(&self) -> Permit<'_> {
        let mut c = self
            .count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *c == 0 {
            c = self
                .cv
                .wait(c)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *c -= 1;
        Permit { sem: self }
    }
}

pub struct Permit<'a> {
    sem: &'a Semaphore,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut c = self
            .sem
            .count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *c += 1;
        self.sem.cv.notify_one();
    }
}

/// Named semaphores created on first use: one per clone source (limit 1), one per
/// storage (limit `per_storage`).
pub struct Pools {
    per_storage: usize,
    sources: Mutex<HashMap<u32, &'static Semaphore>>,
    storages: Mutex<HashMap<String, &'static Semaphore>>,
}

impl Pools {
    pub fn new(per_storage: usize) -> Pools {
        Pools {
            per_storage,
            sources: Mutex::new(HashMap::new()),
            storages: Mutex::new(HashMap::new()),
        }
    }

    /// Clones from one source run one at a time.
    pub fn source(&self, id: u32) -> &'static Semaphore {
        let mut m = self
            .sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Leaked on purpose: a build has a handful of these and they live as long as it.
        m.entry(id)
            .or_insert_with(|| Box::leak(Box::new(Semaphore::new(1))))
    }

    pub fn storage(&self, name: &str) -> &'static Semaphore {
        let mut m = self
            .storages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = self.per_storage;
        m.entry(name.to_string())
            .or_insert_with(|| Box::leak(Box::new(Semaphore::new(n))))
    }
}
