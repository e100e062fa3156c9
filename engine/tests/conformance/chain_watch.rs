use crate::conformance;
use alloy_primitives::{Address, B256, U256};
use metmos_engine::domain::chain_watch::ChainCheckpoint;
use metmos_engine::domain::escrow::{ChainEvent, EscrowLog};

fn event(block: u64, index: u64, log: EscrowLog) -> ChainEvent {
    ChainEvent {
        contract: Address::repeat_byte(0xEE),
        tx_hash: B256::repeat_byte(index as u8 + 1),
        log_index: index,
        block_number: block,
        block_hash: B256::repeat_byte(block as u8),
        removed: false,
        log,
    }
}

/// One log of each kind, with amounts that need all 256 bits.
fn logs() -> Vec<ChainEvent> {
    let order_id = B256::repeat_byte(7);
    vec![
        event(
            10,
            0,
            EscrowLog::Paid {
                order_id,
                payer: Address::repeat_byte(1),
                payee: Address::repeat_byte(2),
                amount: U256::MAX,
                fee: U256::from(5u64),
            },
        ),
        event(
            12,
            3,
            EscrowLog::Released {
                order_id,
                payee: Address::repeat_byte(2),
                payee_amount: U256::MAX - U256::from(5u64),
                fee: U256::from(5u64),
            },
        ),
        event(
            12,
            1,
            EscrowLog::Refunded {
                order_id,
                payer: Address::repeat_byte(1),
                amount: U256::from(1u64) << 200,
            },
        ),
    ]
}

conformance! {
    async fn the_checkpoint_and_kept_logs_survive_and_prune_together(store) {
        let w = "31337:0xEEeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE";
        assert_eq!(store.chain_checkpoint(w).await.unwrap(), None);
        assert!(store.chain_recent_logs(w).await.unwrap().is_empty());
        for e in logs() {
            store.chain_log_delivered(w, &e).await.unwrap();
        }
        // Chain order (block, then log index), each log exactly as delivered.
        let mut want = logs();
        want.sort_by_key(|e| (e.block_number, e.log_index));
        assert_eq!(store.chain_recent_logs(w).await.unwrap(), want);
        // Another watcher key sees nothing of it.
        assert!(store.chain_recent_logs("1:0x0").await.unwrap().is_empty());

        // The same log delivered again from another block replaces it (a re-mined log).
        let mut remined = logs()[0].clone();
        remined.block_number = 11;
        remined.block_hash = B256::repeat_byte(0xAB);
        store.chain_log_delivered(w, &remined).await.unwrap();
        let kept = store.chain_recent_logs(w).await.unwrap();
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[0], remined);

        store.chain_log_removed(w, remined.tx_hash, remined.log_index).await.unwrap();
        assert_eq!(store.chain_recent_logs(w).await.unwrap().len(), 2);

        let cp = ChainCheckpoint { next_block: 13, last_block: Some((12, B256::repeat_byte(12))) };
        store.chain_advance(w, &cp, 12).await.unwrap();
        assert_eq!(store.chain_checkpoint(w).await.unwrap(), Some(cp));
        assert_eq!(store.chain_recent_logs(w).await.unwrap().len(), 2, "block 12 is kept");
        // A rewind keeps no block hash; pruning drops what is below keep_from.
        let rewound = ChainCheckpoint { next_block: 5, last_block: None };
        store.chain_advance(w, &rewound, 13).await.unwrap();
        assert_eq!(store.chain_checkpoint(w).await.unwrap(), Some(rewound));
        assert!(store.chain_recent_logs(w).await.unwrap().is_empty());
    }
}
