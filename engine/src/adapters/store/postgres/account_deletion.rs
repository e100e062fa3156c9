//! `delete_account` in PostgreSQL: one transaction that locks the account and its
//! person, runs the blockers, removes what no foreign key removes, and deletes the
//! account. The rest is the migrations' `ON DELETE`: the person goes with the account
//! (CASCADE), and with the person their connections, experiences (and every reaction
//! on them), reactions, notifications, devices, ws connections, chat participation,
//! wallets and listings; the assets they sent stay (SET NULL). Their messages stay too,
//! with no sender id (`message.sender_uuid` keeps the attribution): `message` has no
//! foreign keys (V17), so this transaction clears `sender_id` itself, after the lock on
//! the person has waited out any message batch that holds it.

use super::market::orders::funds_held_statuses;
use super::social::delete_parent_assets_tx;
use super::{PgStore, Sql, map_err, record};
use crate::domain::assets::ParentType;
use crate::domain::refusal::Refusal;
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::AccountDeletionStore;
use async_trait::async_trait;
use uuid::Uuid;

type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// Blockers: the rules that refuse a deletion (409), checked inside the transaction
/// after the person is locked, before anything is deleted.
async fn account_deletion_blockers(tx: &Tx<'_>, person: Option<(i64, Uuid)>) -> StoreResult<()> {
    let Some((_person_id, person_uuid)) = person else {
        return Ok(());
    };
    // Funds in escrow: the orders are locked (FOR SHARE) until this transaction ends, so
    // a payment confirmed concurrently cannot slip in between the check and the delete.
    // Settled orders do not block: `orders.offer_id ON DELETE SET NULL` keeps them.
    let escrow = tx
        .fetch_all(
            "SELECT 1 FROM orders WHERE (payer_uuid = $1 OR payee_uuid = $1) \
             AND status = ANY($2) FOR SHARE",
            &[&person_uuid, &funds_held_statuses()],
            |_| Ok(()),
        )
        .await?;
    if !escrow.is_empty() {
        return Err(StoreError::Refused(Refusal::AccountHasEscrow));
    }
    Ok(())
}

#[async_trait]
impl AccountDeletionStore for PgStore {
    #[tracing::instrument(level = "debug", skip_all, name = "pg.delete_account")]
    async fn delete_account(&self, account_id: i64, events: &[EventEnvelope]) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        if tx
            .fetch_opt(
                "SELECT id FROM account WHERE id = $1 FOR UPDATE",
                &[&account_id],
                |_| Ok(()),
            )
            .await?
            .is_none()
        {
            return Err(StoreError::Refused(Refusal::AccountNotFound));
        }
        // Locking the person waits out any change that holds it (a connection request
        // to them holds it FOR SHARE) and keeps new ones off until the deletion commits.
        let person: Option<(i64, Uuid)> = tx
            .fetch_opt(
                "SELECT id, uuid FROM person WHERE account_id = $1 FOR UPDATE",
                &[&account_id],
                |r| Ok((r.get(0), r.get(1))),
            )
            .await?;
        account_deletion_blockers(&tx, person).await?;
        if let Some((_, person_uuid)) = person {
            super::market::cancel_unpaid_orders_tx(&tx, person_uuid).await?;
        }
        if let Some((person_id, _)) = person {
            // The asset table's parent is polymorphic (no foreign key): the rows of the
            // person's experiences go explicitly.
            let experiences: Vec<Uuid> = tx
                .fetch_all(
                    "SELECT uuid FROM experience WHERE person_id = $1",
                    &[&person_id],
                    |r| Ok(r.get(0)),
                )
                .await?;
            delete_parent_assets_tx(&tx, ParentType::Experience, &experiences).await?;
            // Their own assets (on themself, their listings); the blobs go after the
            // commit (AccountService), chat attachments stay, ownerless.
            super::assets::delete_person_assets_tx(&tx, person_id).await?;
            tx.exec(
                "UPDATE message SET sender_id = NULL WHERE sender_id = $1",
                &[&person_id],
            )
            .await?;
        }
        tx.exec("DELETE FROM account WHERE id = $1", &[&account_id])
            .await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }
}
