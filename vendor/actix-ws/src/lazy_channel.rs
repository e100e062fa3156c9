//! METMOS: a bounded channel that holds no memory while empty, in place of
//! `tokio::sync::mpsc::channel(32)` between a `Session` and its `StreamingBody`.
//!
//! tokio's bounded channel allocates its first block of 32 slots and a cache-padded
//! header when it is made (about 1.9 KB with `Message`), which every idle WebSocket kept
//! for its lifetime. This one is a `VecDeque` behind a mutex held for one push or one
//! pop; senders wait for room as before (`send` is async and bounded), the body is woken
//! when a message arrives or the last sender goes.

use std::{
    collections::VecDeque,
    fmt,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
};

use tokio::sync::Notify;

/// Drained with more than this many slots of capacity, the queue gives a burst's
/// memory back.
const KEEP_CAPACITY: usize = 16;

struct State<T> {
    items: VecDeque<T>,
    senders: usize,
    receiver_alive: bool,
    receiver_waker: Option<Waker>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Senders waiting for room: one is let in per message taken.
    room: Notify,
    capacity: usize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing here panics while holding the lock; a poisoned state is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            senders: 1,
            receiver_alive: true,
            receiver_waker: None,
        }),
        room: Notify::new(),
        capacity: capacity.max(1),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// The receiver is gone; the message comes back.
pub(crate) struct SendError<T>(#[allow(dead_code)] pub(crate) T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `msg`, waiting while the channel is full.
    pub(crate) async fn send(&self, msg: T) -> Result<(), SendError<T>> {
        loop {
            // Registered (enabled) before the check, so that a message taken or the
            // receiver dropped in between still wakes this sender.
            let room = self.shared.room.notified();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            {
                let mut state = self.shared.lock();
                if !state.receiver_alive {
                    return Err(SendError(msg));
                }
                if state.items.len() < self.shared.capacity {
                    state.items.push_back(msg);
                    let waker = state.receiver_waker.take();
                    drop(state);
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                    return Ok(());
                }
            }
            room.await;
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.lock();
            state.senders -= 1;
            if state.senders == 0 {
                state.receiver_waker.take()
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// The next message; `None` once empty with every sender gone.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.shared.lock();
        if let Some(msg) = state.items.pop_front() {
            if state.items.is_empty() && state.items.capacity() > KEEP_CAPACITY {
                state.items.shrink_to(0);
            }
            drop(state);
            self.shared.room.notify_one();
            return Poll::Ready(Some(msg));
        }
        if state.senders == 0 {
            return Poll::Ready(None);
        }
        state.receiver_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.receiver_alive = false;
            state.items = VecDeque::new();
        }
        // Waiting senders learn that the body is gone.
        self.shared.room.notify_waiters();
    }
}
