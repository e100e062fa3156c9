//! Micro-benchmarks of the engine's domain hot paths (issue 14), so that a regression in
//! them shows in `cargo bench` without a full load run:
//!
//! - money math: every listing, offer and order parses and formats ETH amounts
//!   (`Wei::parse_eth`, `Wei::parse_price`, `Display`, the wei strings of a quote) and
//!   computes fees (`checked_bps`, `Fees::compute`); `POST /orders` then builds the escrow
//!   quote from them, hashes it (`quote_digest`) and signs it (`QuoteSigner::sign`).
//! - seq assignment: a chat room stores what queued as one batch through
//!   `ChatStore::insert_messages`, which gives each message its chat's next seq under the
//!   store's write lock. Measured on the real in-memory store (`MemoryStore`): a batch of
//!   N messages to one chat, and N messages to N chats one call each.
//!   (PostgreSQL's group-commit writers are measured by the load harness; here only the
//!   engine's own work counts.)

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use metmos_engine::adapters::chain::{QuoteSigner, quote_digest};
use metmos_engine::adapters::store::memory::MemoryStore;
use metmos_engine::domain::chat::{ChatType, NewChat, NewMessage};
use metmos_engine::domain::money::{Fees, Wei};
use metmos_engine::domain::order::{EscrowQuote, escrow_order_id};
use metmos_engine::domain::people::Person;
use metmos_engine::domain::time;
use metmos_engine::events::{Event, EventEnvelope, MessageSent};
use metmos_engine::ports::Store;
use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The platform fee and its tax as configured by default (`market.fee_bps`), with a tax
/// rate set so that both steps of the fee arithmetic run.
const FEE_BPS: u32 = 500;
const FEE_TAX_BPS: u32 = 1_000;

/// Hardhat / Anvil test account #0: a PUBLIC test key, never for real funds.
const TEST_QUOTE_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

fn money(c: &mut Criterion) {
    let mut group = c.benchmark_group("money");
    // What clients send: a whole amount, the API's example, and all 18 decimals.
    for (name, raw) in [
        ("whole", "12"),
        ("api_example", "0.115"),
        ("18_decimals", "1234.123456789012345678"),
    ] {
        group.bench_with_input(BenchmarkId::new("parse_eth", name), raw, |b, raw| {
            b.iter(|| Wei::parse_eth("price", black_box(raw)))
        });
        group.bench_with_input(BenchmarkId::new("parse_price", name), raw, |b, raw| {
            b.iter(|| Wei::parse_price("price", black_box(raw)))
        });
    }
    let price = Wei::parse_price("price", "1234.123456789012345678").expect("a valid price");
    group.bench_function("display_eth", |b| b.iter(|| black_box(price).to_string()));
    group.bench_function("to_wei_string", |b| {
        b.iter(|| black_box(price).to_wei_string())
    });
    group.bench_function("checked_bps", |b| {
        b.iter(|| black_box(price).checked_bps(black_box(FEE_BPS)))
    });
    group.bench_function("fees_compute", |b| {
        b.iter(|| Fees::compute(black_box(price), black_box(FEE_BPS), black_box(FEE_TAX_BPS)))
    });
    group.finish();
}

/// The escrow quote of an order, as `MarketService::create_order` builds it.
fn order_quote(price: Wei) -> EscrowQuote {
    let fees = Fees::compute(price, FEE_BPS, FEE_TAX_BPS).expect("a quotable price");
    EscrowQuote {
        chain_id: 31337,
        contract: address("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
        order_id: escrow_order_id(Uuid::new_v4()),
        payer: address("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
        payee: address("0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421"),
        amount: fees.total,
        fee: fees.platform_take(),
        deadline: 1_764_288_000,
    }
}

fn address(hex: &str) -> alloy_primitives::Address {
    alloy_primitives::Address::from_str(hex).expect("a valid address")
}

fn quote(c: &mut Criterion) {
    let mut group = c.benchmark_group("quote");
    let price = Wei::parse_price("price", "0.115").expect("a valid price");
    // What an order's quote takes from money math: fees, then the two wei strings the
    // API shows (`amount`, `fee`).
    group.bench_function("fees_and_wei_strings", |b| {
        b.iter(|| {
            let fees =
                Fees::compute(black_box(price), FEE_BPS, FEE_TAX_BPS).expect("a quotable price");
            (
                fees.total.to_wei_string(),
                fees.platform_take().to_wei_string(),
            )
        })
    });
    let quote = order_quote(price);
    group.bench_function("digest", |b| b.iter(|| quote_digest(black_box(&quote))));
    let signer = QuoteSigner::from_hex(TEST_QUOTE_KEY).expect("the test key");
    group.bench_function("sign", |b| b.iter(|| signer.sign(black_box(&quote))));
    group.finish();
}

/// A store holding `chats` LISTING chats between two persons (no contact check on
/// write: the seq assignment alone), and the sender.
struct ChatFixture {
    /// Behind the port, as the engine holds it.
    store: Box<dyn Store>,
    sender: Person,
    /// (id, uuid) of each chat.
    chats: Vec<(i64, Uuid)>,
}

async fn chat_fixture(chats: usize) -> ChatFixture {
    let store: Box<dyn Store> = Box::new(MemoryStore::new());
    let sender = metmos_engine::testing::stored_person(store.as_ref(), "alice").await;
    let other = metmos_engine::testing::stored_person(store.as_ref(), "bob").await;
    let mut ids = Vec::with_capacity(chats);
    for _ in 0..chats {
        let new = NewChat {
            uuid: Uuid::new_v4(),
            chat_type: ChatType::Listing,
            listing_uuid: Some(Uuid::new_v4()),
            description: None,
            pair_key: None,
            participant_ids: vec![sender.id, other.id],
            at: time::now(),
        };
        let chat = store
            .create_chat(&new, &[])
            .await
            .expect("chat stored")
            .chat;
        ids.push((chat.id, chat.uuid));
    }
    ChatFixture {
        store,
        sender,
        chats: ids,
    }
}

/// A message as `ChatService::store_message` builds it, with its `MessageSent` event.
fn message_to(fixture: &ChatFixture, chat: (i64, Uuid)) -> (NewMessage, EventEnvelope) {
    let at = time::now();
    let new = NewMessage {
        uuid: Uuid::new_v4(),
        chat_id: chat.0,
        chat_uuid: chat.1,
        sender_id: fixture.sender.id,
        sender_uuid: fixture.sender.uuid,
        message_content: "See you at the market at 10, by the fountain?".into(),
        asset_uuids: vec![],
        at,
        contact_of: None,
    };
    let event = EventEnvelope::new(
        Event::MessageSent(MessageSent {
            message_uuid: new.uuid,
            chat_uuid: new.chat_uuid,
            sender_person_uuid: new.sender_uuid,
            asset_count: 0,
        }),
        at,
    );
    (new, event)
}

/// The store is rebuilt once it holds this many messages, so that the measurement does
/// not drift with an ever-growing store (nor eat the machine's memory).
const MESSAGES_PER_STORE: usize = 100_000;

fn seq_assignment(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    let mut group = c.benchmark_group("seq_assignment");
    for n in [1usize, 10, 100] {
        group.throughput(Throughput::Elements(n as u64));
        // Each of the chat's N messages takes the next seq of the same chat.
        // N messages, one per chat: N rows' counters.
        for (name, chats) in [("one_chat", 1), ("n_chats", n)] {
            let mut fixture = runtime.block_on(chat_fixture(chats));
            let mut stored = 0usize;
            group.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter_custom(|iters| {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iters {
                        if stored >= MESSAGES_PER_STORE {
                            fixture = runtime.block_on(chat_fixture(chats));
                            stored = 0;
                        }
                        // Built outside the timing: the service's part, not the store's.
                        let batch: Vec<(NewMessage, EventEnvelope)> = (0..n)
                            .map(|i| message_to(&fixture, fixture.chats[i % chats]))
                            .collect();
                        let store = fixture.store.as_ref();
                        elapsed += runtime.block_on(async {
                            let start = Instant::now();
                            if chats == 1 {
                                // One room's batch: one call, in order.
                                let batch = batch.into_iter().map(|(m, e)| (m, vec![e])).collect();
                                let outcomes = store.insert_messages(batch).await;
                                black_box(outcomes.iter().all(Result::is_ok));
                            } else {
                                for (message, event) in &batch {
                                    let outcome = store
                                        .insert_message(message, std::slice::from_ref(event))
                                        .await;
                                    black_box(outcome.is_ok());
                                }
                            }
                            start.elapsed()
                        });
                        stored += n;
                    }
                    elapsed
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, money, quote, seq_assignment);
criterion_main!(benches);
