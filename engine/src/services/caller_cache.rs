//! Who a token's subject is, remembered for a moment.
//!
//! Every request resolves its caller (account and person) before its handler runs. Read
//! from the store each time, that lookup was one of the two to four round trips of a
//! read like `GET /chats` or a history page, on every request of every client. A caller
//! seen within `auth.caller_cache_ms` is answered from here instead.
//!
//! What a cached caller may miss, and for how long:
//! - changes made through this node (profile edits, account deletion) never: they
//!   forget the subject when they commit, and a lookup that raced with them does not
//!   put its older answer back (see [`Ticket`]);
//! - changes made elsewhere (another node, or an operator suspending an account in the
//!   database) for at most the TTL. That bound is the setting's whole cost; `0` turns
//!   the cache off.
//!
//! Only callers with a person are kept: an account between sign-up's two steps is a
//! short, rare state, and caching it would hide the person created next on another node.

use crate::services::people::Caller;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

/// At most this many subjects are remembered (about 0.5 KB each): the active callers of
/// one node within a TTL are far fewer.
pub const CALLER_CACHE_CAPACITY: usize = 50_000;

/// Shards, so concurrent requests rarely wait on one lock.
const SHARDS: usize = 16;

pub struct CallerCache {
    ttl: Duration,
    per_shard: usize,
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<String, Entry>,
    /// Bumped by every `forget` in the shard: a lookup that began before it must not
    /// store what it read.
    generation: u64,
}

struct Entry {
    at: Instant,
    caller: Caller,
}

/// What a miss hands back to [`CallerCache::put`]: the shard's generation when the
/// lookup began.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    shard: usize,
    generation: u64,
}

impl CallerCache {
    /// `ttl` zero: nothing is kept. `capacity`: at most this many subjects.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard_of(&self, subject: &str) -> usize {
        (self.hasher.hash_one(subject) as usize) % SHARDS
    }

    /// The caller of `subject` if it was read less than the TTL ago; otherwise the
    /// ticket to store a fresh read with.
    pub fn get(&self, subject: &str) -> Result<Caller, Ticket> {
        let shard = self.shard_of(subject);
        let s = self.shards[shard].lock();
        match s.entries.get(subject) {
            Some(e) if e.at.elapsed() < self.ttl => Ok(e.caller.clone()),
            _ => Err(Ticket {
                shard,
                generation: s.generation,
            }),
        }
    }

    /// Keeps a caller just read from the store, unless a `forget` in its shard happened
    /// since the lookup began (the read may be older than that change), it has no
    /// person, or the cache is off.
    pub fn put(&self, subject: &str, ticket: Ticket, caller: &Caller) {
        if self.ttl.is_zero() || caller.person.is_none() {
            return;
        }
        let now = Instant::now();
        let mut s = self.shards[ticket.shard].lock();
        if s.generation != ticket.generation {
            return;
        }
        if s.entries.len() >= self.per_shard && !s.entries.contains_key(subject) {
            let ttl = self.ttl;
            s.entries.retain(|_, e| now.duration_since(e.at) < ttl);
            if s.entries.len() >= self.per_shard {
                return;
            }
        }
        s.entries.insert(
            subject.to_owned(),
            Entry {
                at: now,
                caller: caller.clone(),
            },
        );
    }

    /// Drops `subject`: its account or person changed through this node.
    pub fn forget(&self, subject: &str) {
        let mut s = self.shards[self.shard_of(subject)].lock();
        s.generation += 1;
        s.entries.remove(subject);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::people::{Account, AccountStatus, Person};
    use crate::domain::time;
    use uuid::Uuid;

    fn caller(with_person: bool) -> Caller {
        let at = time::now();
        let account = Account {
            id: 1,
            uuid: Uuid::new_v4(),
            cognito_user_id: "sub".into(),
            account_status: AccountStatus::Active,
            verification_status: None,
            created_at: at,
            updated_at: at,
        };
        let person = Person {
            id: 2,
            uuid: Uuid::new_v4(),
            account_id: account.id,
            account_uuid: account.uuid,
            username: "ann".into(),
            first_name: None,
            last_name: None,
            email: "ann@example.com".into(),
            contact_number: None,
            birth_date: None,
            location: None,
            bio: None,
            created_at: at,
            updated_at: at,
        };
        Caller {
            account,
            person: with_person.then_some(person),
        }
    }

    fn cache() -> CallerCache {
        CallerCache::new(Duration::from_secs(60), 1000)
    }

    #[test]
    fn a_caller_put_is_found_until_forgotten() {
        let cache = cache();
        let ticket = cache.get("sub").expect_err("empty");
        let ann = caller(true);
        cache.put("sub", ticket, &ann);
        let found = cache.get("sub").expect("cached");
        assert_eq!(found.account.uuid, ann.account.uuid);
        assert_eq!(found.person.map(|p| p.uuid), ann.person.map(|p| p.uuid));
        cache.forget("sub");
        assert!(cache.get("sub").is_err());
    }

    #[test]
    fn a_read_that_raced_with_a_change_is_not_kept() {
        let cache = cache();
        let ticket = cache.get("sub").expect_err("empty");
        // The change commits (and forgets) while the lookup is in flight.
        cache.forget("sub");
        cache.put("sub", ticket, &caller(true));
        assert!(cache.get("sub").is_err());
    }

    #[test]
    fn callers_without_a_person_and_a_zero_ttl_keep_nothing() {
        let cache = cache();
        let ticket = cache.get("sub").expect_err("empty");
        cache.put("sub", ticket, &caller(false));
        assert!(cache.get("sub").is_err());

        let off = CallerCache::new(Duration::ZERO, 1000);
        let ticket = off.get("sub").expect_err("empty");
        off.put("sub", ticket, &caller(true));
        assert!(off.get("sub").is_err());
    }

    #[test]
    fn an_entry_expires_after_the_ttl() {
        let cache = CallerCache::new(Duration::from_millis(1), 1000);
        let ticket = cache.get("sub").expect_err("empty");
        cache.put("sub", ticket, &caller(true));
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get("sub").is_err());
    }

    #[test]
    fn a_full_cache_keeps_no_more_than_its_capacity() {
        let cache = CallerCache::new(Duration::from_secs(60), SHARDS);
        for i in 0..200 {
            let sub = format!("sub-{i}");
            let ticket = cache.get(&sub).expect_err("new");
            cache.put(&sub, ticket, &caller(true));
        }
        let kept = (0..200)
            .filter(|i| cache.get(&format!("sub-{i}")).is_ok())
            .count();
        assert!((1..=SHARDS).contains(&kept), "kept {kept}");
    }
}
