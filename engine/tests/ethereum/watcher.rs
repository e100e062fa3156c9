//! The chain watcher on a local node, with its checkpoint in either store.

use super::Fixture;
use alloy_primitives::U256;
use async_trait::async_trait;
use metmos_engine::adapters::chain::ethereum::pay_calldata;
use metmos_engine::adapters::store::memory::MemoryStore;
use metmos_engine::domain::chain_watch::Confirmations;
use metmos_engine::domain::escrow::{ChainEvent, EscrowLog};
use metmos_engine::ports::{ChainError, ChainEventSink, Store};
use metmos_engine::services::chain_watcher::{ChainWatchSignal, ChainWatcher, Round, WatchOptions};
use metmos_engine::testing::ScratchDatabase;
use metmos_engine::testing::local_chain::key;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Records what the watcher delivers (the real sink is the order handler); can be told to
/// refuse the next event, as a failing handler would.
#[derive(Default)]
struct RecordingSink {
    events: Mutex<Vec<ChainEvent>>,
    refuse_next: AtomicBool,
}

#[async_trait]
impl ChainEventSink for RecordingSink {
    async fn on_chain_event(&self, event: ChainEvent) -> Result<(), ChainError> {
        if self.refuse_next.swap(false, Ordering::SeqCst) {
            return Err(ChainError::Unavailable("handler busy".into()));
        }
        self.events.lock().push(event);
        Ok(())
    }
}

impl RecordingSink {
    fn taken(&self) -> Vec<ChainEvent> {
        std::mem::take(&mut *self.events.lock())
    }
}

/// A store for the watcher's checkpoint: memory or a fresh PostgreSQL database.
async fn stores() -> Vec<(Arc<dyn Store>, Option<ScratchDatabase>)> {
    let db = ScratchDatabase::create().await.expect("scratch database");
    let pg: Arc<dyn Store> = Arc::new(db.store().await.expect("connects"));
    vec![(Arc::new(MemoryStore::new()), None), (pg, Some(db))]
}

fn options(confirmations: Confirmations) -> WatchOptions {
    WatchOptions {
        confirmations,
        start_block: 0,
        poll: Duration::from_millis(20),
        log_range: 2000,
        reorg_window: 128,
    }
}

fn watcher(
    f: &Fixture,
    store: &Arc<dyn Store>,
    sink: &Arc<RecordingSink>,
    confirmations: Confirmations,
) -> ChainWatcher {
    ChainWatcher::new(
        f.chain.clone(),
        store.clone(),
        sink.clone(),
        options(confirmations),
        ChainWatchSignal::default(),
    )
}

#[tokio::test]
async fn payments_are_delivered_after_n_confirmations_once_across_restarts() {
    for (store, _db) in stores().await {
        let f = Fixture::start().await;
        let sink = Arc::new(RecordingSink::default());
        let w = watcher(&f, &store, &sink, Confirmations::Blocks(2));
        w.round().await.unwrap();
        assert!(sink.taken().is_empty());

        let q = f.quote().await;
        let tx = f.pay(&q).await;
        let paid_block = f.node.block_number().await;
        w.round().await.unwrap();
        assert!(sink.taken().is_empty(), "not confirmed at the head");
        f.node.mine(1).await;
        w.round().await.unwrap();
        assert!(sink.taken().is_empty(), "one confirmation is not two");
        f.node.mine(1).await;

        // A handler that fails: nothing counts as delivered, the checkpoint stays.
        sink.refuse_next.store(true, Ordering::SeqCst);
        assert!(w.round().await.is_err());
        assert!(sink.taken().is_empty());
        let round = w.round().await.unwrap();
        assert_eq!(round.delivered, 1);
        let delivered = sink.taken();
        assert_eq!(delivered.len(), 1, "{delivered:?}");
        let paid = &delivered[0];
        assert_eq!(
            (paid.tx_hash, paid.block_number, paid.removed, paid.contract),
            (tx, paid_block, false, f.contract)
        );
        assert!(matches!(paid.log, EscrowLog::Paid { order_id, .. } if order_id == q.order_id));

        // A restarted watcher (new instance, same store) resumes after the checkpoint.
        let restarted = watcher(&f, &store, &sink, Confirmations::Blocks(2));
        assert_eq!(restarted.round().await.unwrap(), Round::default());
        assert!(sink.taken().is_empty());

        // The release, through the same watcher.
        f.chain.release(q.order_id).await.unwrap();
        f.node.mine(2).await;
        restarted.round().await.unwrap();
        let released = sink.taken();
        assert_eq!(released.len(), 1);
        assert!(matches!(released[0].log, EscrowLog::Released { .. }));
    }
}

#[tokio::test]
async fn a_reorg_delivers_the_removal_then_the_remined_payment() {
    for (store, _db) in stores().await {
        let f = Fixture::start().await;
        let sink = Arc::new(RecordingSink::default());
        let w = watcher(&f, &store, &sink, Confirmations::Blocks(0));
        let q = f.quote().await;
        let signature = f.chain.sign_quote(&q).await.unwrap();
        let payer = key(super::PAYER);
        let sender = f.node.sender(&payer);
        let (raw, tx) = sender
            .sign(
                Some(f.contract),
                U256::from(q.amount.0),
                pay_calldata(&q, &signature).unwrap(),
            )
            .await
            .unwrap();

        let before = f.node.snapshot().await;
        sender.send_raw(&raw).await.unwrap();
        sender.wait(tx).await.unwrap();
        w.round().await.unwrap();
        let first = sink.taken();
        assert_eq!(first.len(), 1);
        assert!(!first[0].removed);

        // The payment's block leaves the canonical chain; other blocks replace it.
        f.node.revert(&before).await;
        f.node.mine(3).await;
        assert_ne!(
            f.node.block_hash(first[0].block_number).await,
            first[0].block_hash
        );
        let round = w.round().await.unwrap();
        assert_eq!((round.removed, round.delivered), (1, 0));
        let removed = sink.taken();
        assert_eq!(
            removed,
            vec![ChainEvent {
                removed: true,
                ..first[0].clone()
            }]
        );
        assert_eq!(w.round().await.unwrap(), Round::default(), "removed once");

        // The same transaction mined again, in another block: a new delivery.
        sender.send_raw(&raw).await.unwrap();
        sender.wait(tx).await.unwrap();
        w.round().await.unwrap();
        let again = sink.taken();
        assert_eq!(again.len(), 1, "{again:?}");
        assert_eq!((again[0].tx_hash, again[0].removed), (tx, false));
        assert_ne!(again[0].block_hash, first[0].block_hash);
        assert_eq!(again[0].log, first[0].log);
    }
}

#[tokio::test]
async fn the_running_watcher_wakes_on_the_signal_and_stops_on_shutdown() {
    let f = Fixture::start().await;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let sink = Arc::new(RecordingSink::default());
    let signal = ChainWatchSignal::default();
    let mut opts = options(Confirmations::Blocks(0));
    // A poll far away: only the wake can explain a prompt delivery.
    opts.poll = Duration::from_secs(3600);
    let w = ChainWatcher::new(
        f.chain.clone(),
        store.clone(),
        sink.clone(),
        opts,
        signal.clone(),
    );
    let (shutdown, rx) = tokio::sync::broadcast::channel(1);
    let task = tokio::spawn(w.run(rx));
    // Its first round has run (it wrote a checkpoint): it now sleeps on the long poll.
    let key = format!("{}:{}", super::CHAIN_ID, f.contract);
    for _ in 0..500 {
        if store.chain_checkpoint(&key).await.unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(store.chain_checkpoint(&key).await.unwrap().is_some());

    let q = f.quote().await;
    f.pay(&q).await;
    signal.wake();
    for _ in 0..500 {
        if !sink.events.lock().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sink.taken().len(), 1, "delivered after the wake");

    shutdown.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("stops on shutdown")
        .unwrap();
}

#[tokio::test]
async fn with_the_finalized_tag_the_watcher_delivers_up_to_the_finalized_block() {
    // ganache finalizes every block at once; the adapter reads the tag from the node.
    let f = Fixture::start().await;
    assert_eq!(
        f.chain.finalized_block().await.unwrap(),
        Some(f.node.block_number().await)
    );
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let sink = Arc::new(RecordingSink::default());
    let w = watcher(&f, &store, &sink, Confirmations::Finalized);
    let q = f.quote().await;
    let tx = f.pay(&q).await;
    let round = w.round().await.unwrap();
    assert_eq!(round.delivered, 1);
    assert_eq!(sink.taken()[0].tx_hash, tx);
}
