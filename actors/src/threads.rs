//! The threads the realtime actors run on, and the sharded maps the per-message path
//! reads without a mailbox hop.
//!
//! One arbiter (a thread with its own event loop) per core (`ws.actor_threads`): chat
//! rooms are hashed onto them by chat uuid and user sessions by person uuid, so every
//! core works on messages instead of one thread running every actor. A given room or
//! session always lives on one thread and handles its messages one at a time, as before.

use actix::{Arbiter, ArbiterHandle};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Shards of a [`Sharded`] map: enough that threads rarely meet on one lock.
const SHARDS: usize = 64;

/// Spreads a uuid's 128 bits over a `u64` (uuids from any version hash evenly).
fn spread(uuid: &Uuid) -> u64 {
    let (hi, lo) = uuid.as_u64_pair();
    (hi ^ lo).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The arbiters actors are started on.
pub struct ActorThreads {
    arbiters: Vec<Arbiter>,
}

impl ActorThreads {
    /// Starts `threads` arbiters (0 = one per core). Call inside the actix system.
    pub fn start(threads: usize) -> Arc<Self> {
        let n = if threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            threads
        };
        Arc::new(Self {
            arbiters: (0..n).map(|_| Arbiter::new()).collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.arbiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.arbiters.is_empty()
    }

    /// The arbiter that runs the actor keyed by `uuid` (a chat's or a person's).
    pub fn of(&self, uuid: &Uuid) -> ArbiterHandle {
        let i = (spread(uuid) >> 32) as usize % self.arbiters.len();
        self.arbiters[i].handle()
    }

    /// Stops every arbiter (their actors stop with them).
    pub fn stop(&self) {
        for a in &self.arbiters {
            a.stop();
        }
    }
}

/// A map from uuid to `V` split into independently locked shards: readers on many
/// threads look entries up synchronously, and rarely wait for one another.
pub struct Sharded<V> {
    shards: Box<[RwLock<HashMap<Uuid, V>>]>,
}

impl<V> Default for Sharded<V> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
        }
    }
}

impl<V> Sharded<V> {
    pub fn shard(&self, key: &Uuid) -> &RwLock<HashMap<Uuid, V>> {
        &self.shards[spread(key) as usize % self.shards.len()]
    }

    pub fn shards(&self) -> impl Iterator<Item = &RwLock<HashMap<Uuid, V>>> {
        self.shards.iter()
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<V: Clone> Sharded<V> {
    pub fn get(&self, key: &Uuid) -> Option<V> {
        self.shard(key).read().get(key).cloned()
    }
}

/// A map split into shards under plain mutexes, for entries changed as often as read.
pub struct ShardedMut<V> {
    shards: Box<[Mutex<HashMap<Uuid, V>>]>,
}

impl<V> Default for ShardedMut<V> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl<V> ShardedMut<V> {
    pub fn shard(&self, key: &Uuid) -> &Mutex<HashMap<Uuid, V>> {
        &self.shards[spread(key) as usize % self.shards.len()]
    }

    pub fn shards(&self) -> impl Iterator<Item = &Mutex<HashMap<Uuid, V>>> {
        self.shards.iter()
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_in_their_shard_and_counted_across_shards() {
        let map: Sharded<u32> = Sharded::default();
        let keys: Vec<Uuid> = (0..200).map(|_| Uuid::new_v4()).collect();
        for (i, k) in keys.iter().enumerate() {
            map.shard(k).write().insert(*k, i as u32);
        }
        assert_eq!(map.len(), 200);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(map.get(k), Some(i as u32));
        }
        assert_eq!(map.get(&Uuid::new_v4()), None);
        let used = map.shards().filter(|s| !s.read().is_empty()).count();
        assert!(used > SHARDS / 2, "200 random keys spread over the shards");
    }

    #[actix::test]
    async fn one_uuid_always_maps_to_one_arbiter() {
        let threads = ActorThreads::start(3);
        assert_eq!(threads.len(), 3);
        let key = Uuid::new_v4();
        let first = threads.of(&key);
        let again = threads.of(&key);
        // Same arbiter: a message spawned on either runs on the same thread.
        let (tx1, rx1) = tokio::sync::oneshot::channel();
        let (tx2, rx2) = tokio::sync::oneshot::channel();
        first.spawn_fn(move || {
            let _ = tx1.send(std::thread::current().id());
        });
        again.spawn_fn(move || {
            let _ = tx2.send(std::thread::current().id());
        });
        let there = rx1.await.unwrap();
        assert_eq!(there, rx2.await.unwrap());
        assert_ne!(there, std::thread::current().id(), "not the system thread");
        threads.stop();
    }
}
