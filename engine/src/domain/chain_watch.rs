//! The chain watcher's decisions, as pure functions of what it read: which block is
//! confirmed, which blocks to scan next, and what a reorg took away. The service
//! (`services::chain_watcher`) reads the chain and the store, calls these, and writes.

use crate::domain::escrow::ChainEvent;
use alloy_primitives::B256;
use std::collections::{BTreeSet, HashMap, HashSet};

/// How final a block must be before the watcher delivers its logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmations {
    /// This many blocks on top of the log's block (0: the head itself counts).
    Blocks(u64),
    /// The node's `finalized` block tag.
    Finalized,
}

/// Where the watcher resumes: the next block to scan, and the hash the block before it
/// had when it was scanned (a different hash now means a reorg under the checkpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheckpoint {
    pub next_block: u64,
    pub last_block: Option<(u64, B256)>,
}

/// The newest block whose logs may be delivered: `confirmations` below the head, or the
/// finalized block. `None` while no block is confirmed yet.
pub fn confirmed_head(
    latest: u64,
    finalized: Option<u64>,
    confirmations: Confirmations,
) -> Option<u64> {
    match confirmations {
        Confirmations::Blocks(n) => latest.checked_sub(n),
        Confirmations::Finalized => finalized,
    }
}

/// The blocks to scan next (`from..=to`), at most `max_blocks` of them, never past the
/// confirmed head; `None` when the watcher has caught up.
pub fn next_range(next_block: u64, confirmed: Option<u64>, max_blocks: u64) -> Option<(u64, u64)> {
    let head = confirmed?;
    if next_block > head {
        return None;
    }
    let to = next_block.saturating_add(max_blocks.max(1) - 1).min(head);
    Some((next_block, to))
}

/// What a reorg changes, decided from the delivered logs still in the window, the
/// checkpoint, and the canonical hash of each block they name (`None`: past the head).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReorgVerdict {
    /// Delivered logs whose block is no longer canonical, newest first, `removed: true`:
    /// they are delivered again in that form so their effect is undone.
    pub removed: Vec<ChainEvent>,
    /// Where scanning resumes when anything under the checkpoint changed. The fork point
    /// is not known (blocks without our logs are not kept), so it goes back a whole window:
    /// a re-mined transaction may land in an earlier block than the one it left.
    pub rewind_to: Option<u64>,
}

/// The blocks whose canonical hash the watcher must read to judge a reorg, given whether
/// the checkpoint's own block is still canonical. Each block commits to its parent's hash,
/// so an intact checkpoint block means nothing at or below it changed: only logs delivered
/// above it (a round the sink interrupted) need their blocks checked. Otherwise every
/// kept log's block is checked, and the checkpoint's.
pub fn blocks_to_verify(
    delivered: &[ChainEvent],
    checkpoint: &ChainCheckpoint,
    checkpoint_intact: bool,
) -> BTreeSet<u64> {
    let floor = match checkpoint.last_block {
        Some((n, _)) if checkpoint_intact => Some(n),
        _ => None,
    };
    delivered
        .iter()
        .map(|e| e.block_number)
        .filter(|n| floor.is_none_or(|f| *n > f))
        .chain(
            checkpoint
                .last_block
                .map(|(n, _)| n)
                .filter(|_| floor.is_none()),
        )
        .collect()
}

pub fn judge_reorg(
    delivered: &[ChainEvent],
    checkpoint: &ChainCheckpoint,
    canonical: &HashMap<u64, Option<B256>>,
    start_block: u64,
    window: u64,
) -> ReorgVerdict {
    let is_stale =
        |number: u64, hash: B256| canonical.get(&number).is_some_and(|c| *c != Some(hash));
    let mut removed: Vec<ChainEvent> = delivered
        .iter()
        .filter(|e| is_stale(e.block_number, e.block_hash))
        .map(|e| ChainEvent {
            removed: true,
            ..e.clone()
        })
        .collect();
    removed.sort_by_key(|e| std::cmp::Reverse((e.block_number, e.log_index)));
    let lowest_stale = removed
        .iter()
        .map(|e| e.block_number)
        .chain(
            checkpoint
                .last_block
                .filter(|(n, h)| is_stale(*n, *h))
                .map(|(n, _)| n),
        )
        .min();
    ReorgVerdict {
        removed,
        rewind_to: lowest_stale.map(|n| n.saturating_sub(window).max(start_block)),
    }
}

/// The scanned logs not delivered yet: a log already delivered from the same block (a
/// rescan after a rewind) is skipped; the same log from another block is new.
pub fn undelivered(scanned: Vec<ChainEvent>, delivered: &[ChainEvent]) -> Vec<ChainEvent> {
    let seen: HashSet<(B256, u64, B256)> = delivered
        .iter()
        .map(|e| (e.tx_hash, e.log_index, e.block_hash))
        .collect();
    scanned
        .into_iter()
        .filter(|e| !seen.contains(&(e.tx_hash, e.log_index, e.block_hash)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::escrow::EscrowLog;
    use alloy_primitives::{Address, U256};

    fn event(block: u64, index: u64, fork: u8) -> ChainEvent {
        ChainEvent {
            contract: Address::repeat_byte(0xEE),
            tx_hash: B256::repeat_byte(index as u8 + 1),
            log_index: index,
            block_number: block,
            block_hash: B256::repeat_byte(fork.wrapping_add(block as u8)),
            removed: false,
            log: EscrowLog::Refunded {
                order_id: B256::repeat_byte(7),
                payer: Address::repeat_byte(1),
                amount: U256::from(5),
            },
        }
    }

    #[test]
    fn confirmed_head_waits_for_confirmations_or_finality() {
        assert_eq!(confirmed_head(10, None, Confirmations::Blocks(0)), Some(10));
        assert_eq!(confirmed_head(10, None, Confirmations::Blocks(3)), Some(7));
        assert_eq!(confirmed_head(2, None, Confirmations::Blocks(3)), None);
        assert_eq!(
            confirmed_head(10, Some(4), Confirmations::Finalized),
            Some(4)
        );
        assert_eq!(confirmed_head(10, None, Confirmations::Finalized), None);
    }

    #[test]
    fn ranges_stop_at_the_confirmed_head_and_the_range_cap() {
        assert_eq!(next_range(5, Some(4), 100), None);
        assert_eq!(next_range(5, None, 100), None);
        assert_eq!(next_range(5, Some(5), 100), Some((5, 5)));
        assert_eq!(next_range(5, Some(500), 100), Some((5, 104)));
        assert_eq!(
            next_range(0, Some(u64::MAX), u64::MAX),
            Some((0, u64::MAX - 1))
        );
    }

    #[test]
    fn a_reorg_removes_the_logs_of_changed_blocks_newest_first_and_rewinds() {
        let delivered = vec![event(10, 0, 0), event(12, 1, 0), event(12, 2, 0)];
        let checkpoint = ChainCheckpoint {
            next_block: 13,
            last_block: Some((12, B256::repeat_byte(12))),
        };
        assert_eq!(
            blocks_to_verify(&delivered, &checkpoint, false)
                .into_iter()
                .collect::<Vec<_>>(),
            vec![10, 12]
        );
        // An intact checkpoint block vouches for everything at or below it...
        assert!(blocks_to_verify(&delivered, &checkpoint, true).is_empty());
        // ...but not for a log delivered above it by an interrupted round.
        let above = [delivered.clone(), vec![event(14, 4, 0)]].concat();
        assert_eq!(
            blocks_to_verify(&above, &checkpoint, true)
                .into_iter()
                .collect::<Vec<_>>(),
            vec![14]
        );
        // Block 12 changed, block 10 did not.
        let canonical = HashMap::from([
            (10, Some(B256::repeat_byte(10))),
            (12, Some(B256::repeat_byte(0xAB))),
        ]);
        let verdict = judge_reorg(&delivered, &checkpoint, &canonical, 3, 5);
        assert_eq!(
            verdict
                .removed
                .iter()
                .map(|e| (e.block_number, e.log_index, e.removed))
                .collect::<Vec<_>>(),
            vec![(12, 2, true), (12, 1, true)]
        );
        assert_eq!(verdict.rewind_to, Some(7));
        // The window never rewinds before the start block.
        assert_eq!(
            judge_reorg(&delivered, &checkpoint, &canonical, 9, 5).rewind_to,
            Some(9)
        );
        // A block past the head (None) is stale too.
        let gone = HashMap::from([(10, None), (12, None)]);
        assert_eq!(
            judge_reorg(&delivered, &checkpoint, &gone, 0, 100)
                .removed
                .len(),
            3
        );
    }

    #[test]
    fn a_changed_checkpoint_block_without_logs_still_rewinds() {
        let checkpoint = ChainCheckpoint {
            next_block: 21,
            last_block: Some((20, B256::repeat_byte(1))),
        };
        let canonical = HashMap::from([(20, Some(B256::repeat_byte(2)))]);
        assert_eq!(
            judge_reorg(&[], &checkpoint, &canonical, 0, 8),
            ReorgVerdict {
                removed: vec![],
                rewind_to: Some(12)
            }
        );
        let same = HashMap::from([(20, Some(B256::repeat_byte(1)))]);
        assert_eq!(
            judge_reorg(&[], &checkpoint, &same, 0, 8),
            ReorgVerdict::default()
        );
    }

    #[test]
    fn a_rescan_skips_what_was_delivered_from_the_same_block_only() {
        let delivered = vec![event(10, 0, 0)];
        let remined = event(10, 0, 9); // same tx and index, another block hash
        let scanned = vec![event(10, 0, 0), remined.clone(), event(11, 1, 0)];
        assert_eq!(
            undelivered(scanned, &delivered),
            vec![remined, event(11, 1, 0)]
        );
    }
}
