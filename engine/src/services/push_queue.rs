//! The bounded push queue: the realtime path hands pushes here and moves on, and a fixed
//! number of workers send them (`DeviceService::push_to_person`), so a slow push service
//! never slows chat and never costs more than the queue's memory. When the queue is full,
//! a new chat push collapses into the oldest waiting chat push of the same person ("3 new
//! messages"); failing that, the oldest waiting chat push of anyone is dropped (the app
//! resyncs chats on open). Trade and social notifications are stored, so when the queue
//! holds nothing droppable the new one is dropped with a warning; `GET /notifications`
//! still lists it.

use crate::domain::notifications::NotificationType;
use crate::ports::PushMessage;
use crate::services::devices::DeviceService;
use crate::services::read_state::ReadStateService;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

/// Pushes waiting at most; past this they collapse or are dropped.
pub const PUSH_QUEUE_CAPACITY: usize = 10_000;
/// Workers sending pushes at once.
pub const PUSH_WORKERS: usize = 16;

#[derive(Debug, Clone, PartialEq)]
struct Job {
    person: Uuid,
    message: PushMessage,
    /// How many chat messages this push stands for.
    messages: u32,
}

#[derive(Debug, Default)]
pub struct PushQueueStats {
    pub enqueued: AtomicU64,
    pub collapsed: AtomicU64,
    pub dropped: AtomicU64,
    pub sent: AtomicU64,
}

struct Inner {
    jobs: Mutex<VecDeque<Job>>,
    ready: Notify,
    capacity: usize,
    stats: PushQueueStats,
}

#[derive(Clone)]
pub struct PushQueue {
    inner: Arc<Inner>,
}

/// Two chat pushes for one person as one: the newest message's data (a tap opens that
/// chat), the count in the body. Pure: the rule, testable alone.
pub fn collapse_chat_pushes(older_count: u32, newer: &PushMessage) -> (PushMessage, u32) {
    let count = older_count + 1;
    let mut merged = newer.clone();
    merged.body = format!("{count} new messages");
    (merged, count)
}

impl Inner {
    /// Puts `job` in the queue under the capacity rule; what happened, for the stats.
    fn admit(&self, jobs: &mut VecDeque<Job>, job: Job) -> Admission {
        if jobs.len() < self.capacity {
            jobs.push_back(job);
            return Admission::Queued;
        }
        let is_chat = |j: &Job| j.message.notification_type == NotificationType::NewChatMessage;
        if is_chat(&job)
            && let Some(same) = jobs
                .iter_mut()
                .find(|j| j.person == job.person && is_chat(j))
        {
            let (message, count) = collapse_chat_pushes(same.messages, &job.message);
            same.message = message;
            same.messages = count;
            return Admission::Collapsed;
        }
        if let Some(i) = jobs.iter().position(is_chat) {
            jobs.remove(i);
            jobs.push_back(job);
            return Admission::DroppedOldest;
        }
        Admission::DroppedNew
    }
}

enum Admission {
    Queued,
    Collapsed,
    DroppedOldest,
    DroppedNew,
}

impl PushQueue {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                jobs: Mutex::new(VecDeque::new()),
                ready: Notify::new(),
                capacity: capacity.max(1),
                stats: PushQueueStats::default(),
            }),
        }
    }

    /// Never waits: the caller (a chat room, the notifier) is on the realtime path.
    pub fn enqueue(&self, person: Uuid, message: PushMessage) {
        let admission = {
            let mut jobs = self.inner.jobs.lock();
            self.inner.admit(
                &mut jobs,
                Job {
                    person,
                    message,
                    messages: 1,
                },
            )
        };
        let stats = &self.inner.stats;
        match admission {
            Admission::Queued => {
                stats.enqueued.fetch_add(1, Ordering::Relaxed);
            }
            Admission::Collapsed => {
                stats.collapsed.fetch_add(1, Ordering::Relaxed);
            }
            Admission::DroppedOldest => {
                stats.enqueued.fetch_add(1, Ordering::Relaxed);
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("push queue full: the oldest chat push was dropped");
            }
            Admission::DroppedNew => {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(person = %person, "push queue full of stored notifications: push dropped (still listed by GET /notifications)");
            }
        }
        self.inner.ready.notify_one();
    }

    pub fn len(&self) -> usize {
        self.inner.jobs.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> &PushQueueStats {
        &self.inner.stats
    }

    /// The next job, waiting for one; `None` once `shutdown` fires.
    async fn next(&self, shutdown: &mut broadcast::Receiver<()>) -> Option<Job> {
        loop {
            // Registered before the check, so a push enqueued in between still wakes us.
            let ready = self.inner.ready.notified();
            if let Some(job) = self.inner.jobs.lock().pop_front() {
                return Some(job);
            }
            tokio::select! {
                _ = ready => {}
                _ = shutdown.recv() => return None,
            }
        }
    }

    /// One worker: sends queued pushes through `devices` until `shutdown` fires. The
    /// engine runs [`PUSH_WORKERS`] of them on its task tracker.
    /// A NEW_CHAT_MESSAGE push carries the person's total unread as its `badge` (data
    /// key, and the APNS badge), read when it is sent (so a collapsed push counts all).
    pub async fn worker(
        self,
        devices: DeviceService,
        read_state: ReadStateService,
        mut shutdown: broadcast::Receiver<()>,
    ) {
        while let Some(mut job) = self.next(&mut shutdown).await {
            if job.message.notification_type == NotificationType::NewChatMessage
                && let Some(badge) = read_state.badge(job.person).await
            {
                job.message.data.insert("badge".into(), badge.into());
            }
            devices.push_to_person(job.person, &job.message).await;
            self.inner.stats.sent.fetch_add(1, Ordering::Relaxed);
            // Another worker may be waiting on a notification this one consumed.
            if !self.is_empty() {
                self.inner.ready.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(kind: NotificationType, body: &str) -> PushMessage {
        PushMessage {
            notification_type: kind,
            title: "t".into(),
            body: body.into(),
            data: serde_json::Map::new(),
        }
    }

    #[test]
    fn a_full_queue_collapses_a_persons_chat_pushes_and_never_grows() {
        let q = PushQueue::new(2);
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        q.enqueue(a, push(NotificationType::NewChatMessage, "hi"));
        q.enqueue(b, push(NotificationType::NewChatMessage, "yo"));
        q.enqueue(a, push(NotificationType::NewChatMessage, "again"));
        q.enqueue(a, push(NotificationType::NewChatMessage, "and again"));
        assert_eq!(q.len(), 2);
        {
            let jobs = q.inner.jobs.lock();
            assert_eq!(jobs[0].person, a);
            assert_eq!(jobs[0].messages, 3);
            assert_eq!(jobs[0].message.body, "3 new messages");
        }
        // Someone else's chat push when full: the oldest chat push makes room.
        q.enqueue(c, push(NotificationType::NewChatMessage, "new"));
        assert_eq!(q.len(), 2);
        {
            let jobs = q.inner.jobs.lock();
            assert_eq!(jobs[0].person, b);
            assert_eq!(jobs[1].person, c);
        }
        // A full queue of stored notifications keeps them; the new push is dropped.
        let q = PushQueue::new(1);
        q.enqueue(a, push(NotificationType::OfferReceived, "offer"));
        q.enqueue(b, push(NotificationType::NewChatMessage, "hi"));
        assert_eq!(q.len(), 1);
        assert_eq!(q.stats().dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn collapsing_keeps_the_newest_data() {
        let mut newer = push(NotificationType::NewChatMessage, "last one");
        newer.data.insert("messageUuid".into(), "m2".into());
        let (merged, count) = collapse_chat_pushes(1, &newer);
        assert_eq!(count, 2);
        assert_eq!(merged.body, "2 new messages");
        assert_eq!(merged.data["messageUuid"], "m2");
    }
}
