//! A connection's outbound queue: frames for the person (from whoever delivers them) and
//! the outcomes of the connection's own messages (from their chat rooms), to its socket
//! task.
//!
//! Bounded and non-blocking for the sender like tokio's `mpsc::channel`, but it holds
//! (almost) no memory while empty. tokio's bounded channel allocates its first block of
//! 32 slots and a cache-padded header when it is made, about 1.9 KB that every idle
//! socket would keep for its lifetime (issue 14 asks for ≤ 10 KB per idle connection).
//! This one is a `VecDeque` behind a mutex held for one push or one pop: it grows with
//! what is queued and gives a burst's memory back once drained.

use crate::user_session::Outbound;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::Notify;

/// Drained below this many slots' worth of capacity, the queue keeps its buffer;
/// above, it shrinks back (a burst's memory is returned, steady traffic reuses it).
const KEEP_CAPACITY: usize = 64;

/// Why [`OutboundSender::try_send`] refused a frame (the frame comes back).
#[derive(Debug)]
pub enum TrySendError {
    /// `capacity` frames wait already: the client is not reading.
    Full(Outbound),
    /// The socket task is gone.
    Closed(Outbound),
}

struct State {
    items: VecDeque<Outbound>,
    senders: usize,
    receiver_alive: bool,
}

struct Shared {
    state: Mutex<State>,
    /// One receiver: `notify_one` keeps a permit when it is not waiting yet, so a push
    /// between its check and its wait is never missed.
    ready: Notify,
    capacity: usize,
}

/// A bounded queue of at most `capacity` frames (at least 1).
pub fn queue(capacity: usize) -> (OutboundSender, OutboundReceiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            senders: 1,
            receiver_alive: true,
        }),
        ready: Notify::new(),
        capacity: capacity.max(1),
    });
    (OutboundSender(shared.clone()), OutboundReceiver(shared))
}

impl Shared {
    fn try_send(&self, out: Outbound) -> Result<(), TrySendError> {
        let mut state = self.state.lock();
        if !state.receiver_alive {
            return Err(TrySendError::Closed(out));
        }
        if state.items.len() >= self.capacity {
            return Err(TrySendError::Full(out));
        }
        state.items.push_back(out);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }
}

/// The session's end: while one is alive, the queue is open.
pub struct OutboundSender(Arc<Shared>);

impl OutboundSender {
    /// Queues `out` without waiting.
    pub fn try_send(&self, out: Outbound) -> Result<(), TrySendError> {
        self.0.try_send(out)
    }

    /// An end for the outcomes of the connection's own messages, which chat rooms
    /// answer straight into the queue.
    pub fn outcomes(&self) -> OutcomeSender {
        OutcomeSender(self.0.clone())
    }
}

/// Queues like an [`OutboundSender`] but does not keep the queue open: it ends when the
/// session's senders are gone, whatever outcomes are still on their way (the socket is
/// closing then, and nobody would read them). Cloning it takes no lock: one clone goes
/// with every message a connection sends.
#[derive(Clone)]
pub struct OutcomeSender(Arc<Shared>);

impl OutcomeSender {
    /// Queues `out` without waiting.
    pub fn try_send(&self, out: Outbound) -> Result<(), TrySendError> {
        self.0.try_send(out)
    }
}

impl std::fmt::Debug for OutcomeSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutcomeSender").finish_non_exhaustive()
    }
}

impl Clone for OutboundSender {
    fn clone(&self) -> Self {
        self.0.state.lock().senders += 1;
        Self(self.0.clone())
    }
}

impl Drop for OutboundSender {
    fn drop(&mut self) {
        let last = {
            let mut state = self.0.state.lock();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            // The receiver learns that nothing more will come.
            self.0.ready.notify_one();
        }
    }
}

impl std::fmt::Debug for OutboundSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundSender")
            .field("capacity", &self.0.capacity)
            .finish_non_exhaustive()
    }
}

/// The socket task's end.
pub struct OutboundReceiver(Arc<Shared>);

impl OutboundReceiver {
    /// The next frame; `None` once it is empty and every sender is gone.
    pub async fn recv(&mut self) -> Option<Outbound> {
        loop {
            {
                let mut state = self.0.state.lock();
                if let Some(out) = state.items.pop_front() {
                    if state.items.is_empty() && state.items.capacity() > KEEP_CAPACITY {
                        state.items.shrink_to(0);
                    }
                    return Some(out);
                }
                if state.senders == 0 {
                    return None;
                }
            }
            self.0.ready.notified().await;
        }
    }
}

impl OutboundReceiver {
    /// The next frame if one waits, without waiting.
    pub fn try_recv(&mut self) -> Option<Outbound> {
        self.0.state.lock().items.pop_front()
    }
}

impl Drop for OutboundReceiver {
    fn drop(&mut self) {
        let mut state = self.0.state.lock();
        state.receiver_alive = false;
        state.items = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytestring::ByteString;
    use std::time::Duration;

    fn frame(text: &'static str) -> Outbound {
        Outbound::Frame(ByteString::from_static(text))
    }

    fn text(out: Option<Outbound>) -> String {
        match out {
            Some(Outbound::Frame(f)) => f.to_string(),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn frames_come_out_in_order_and_a_full_queue_refuses() {
        let (tx, mut rx) = queue(2);
        tx.try_send(frame("a")).unwrap();
        tx.try_send(frame("b")).unwrap();
        assert!(matches!(
            tx.try_send(frame("c")),
            Err(TrySendError::Full(_))
        ));
        assert_eq!(text(rx.recv().await), "a");
        tx.try_send(frame("c")).unwrap();
        assert_eq!(text(rx.recv().await), "b");
        assert_eq!(text(rx.recv().await), "c");
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_on_a_frame_and_ends_with_the_last_sender() {
        let (tx, mut rx) = queue(4);
        let other = tx.clone();
        let reader = tokio::spawn(async move {
            let first = text(rx.recv().await);
            let end = rx.recv().await;
            (first, end.is_none())
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        other.try_send(frame("hello")).unwrap();
        drop(other);
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(tx);
        let (first, ended) = tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("the receiver woke")
            .unwrap();
        assert_eq!(first, "hello");
        assert!(ended, "no sender left: the queue ends");
    }

    #[tokio::test]
    async fn outcomes_queue_but_do_not_keep_the_queue_open() {
        let (tx, mut rx) = queue(1);
        let outcomes = tx.outcomes();
        outcomes.try_send(frame("ack")).unwrap();
        assert!(matches!(
            outcomes.try_send(frame("more")),
            Err(TrySendError::Full(_))
        ));
        assert_eq!(text(rx.recv().await), "ack");
        drop(tx);
        let ended = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert!(
            matches!(ended, Ok(None)),
            "the session's sender gone: the queue ends"
        );
        drop(rx);
        assert!(matches!(
            outcomes.try_send(frame("late")),
            Err(TrySendError::Closed(_))
        ));
    }

    #[tokio::test]
    async fn a_gone_receiver_refuses_as_closed() {
        let (tx, rx) = queue(4);
        drop(rx);
        assert!(matches!(
            tx.try_send(frame("a")),
            Err(TrySendError::Closed(_))
        ));
    }

    #[tokio::test]
    async fn a_drained_burst_gives_its_memory_back() {
        let (tx, mut rx) = queue(1024);
        for _ in 0..500 {
            tx.try_send(frame("x")).unwrap();
        }
        for _ in 0..500 {
            rx.recv().await.unwrap();
        }
        assert_eq!(rx.0.state.lock().items.capacity(), 0);
    }
}
