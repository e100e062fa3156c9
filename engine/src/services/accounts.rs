//! Account deletion (`DELETE /accounts/{uuid}`): the caller's own account only, confirmed
//! with the exact phrase, removed with everything that is theirs in one store
//! transaction. The token of a deleted account stops working at once: the deletion drops
//! it from the caller cache, so the next request's caller lookup finds no account (401).
//! On another node of a cluster it stops within `auth.caller_cache_ms`.

use crate::domain::people;
use crate::domain::refusal::Refusal;
use crate::domain::time;
use crate::error::{Error, Problems, Result};
use crate::events::{AccountDeleted, Event, EventEnvelope};
use crate::ports::Store;
use crate::services::assets::AssetService;
use crate::services::caller_cache::CallerCache;
use crate::services::outbox::OutboxSignal;
use crate::services::people::Caller;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// The words a client must send to delete an account, exactly.
pub const DELETE_CONFIRMATION: &str = "Permanently delete my account";
const MAX_REASON: usize = 1000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoveAccountDto {
    /// Must be exactly `Permanently delete my account`.
    #[schema(example = "Permanently delete my account")]
    pub confirm: Option<String>,
    /// Why the account is closed (kept only in the `account.deleted` event).
    pub reason: Option<String>,
}

#[derive(Clone)]
pub struct AccountService {
    store: Arc<dyn Store>,
    outbox: OutboxSignal,
    assets: AssetService,
    callers: Arc<CallerCache>,
}

impl AccountService {
    pub fn new(
        store: Arc<dyn Store>,
        outbox: OutboxSignal,
        assets: AssetService,
        callers: Arc<CallerCache>,
    ) -> Self {
        Self {
            store,
            outbox,
            assets,
            callers,
        }
    }

    /// Deletes the caller's account `uuid`. Another person's account is 403, an unknown
    /// one 404 (both before the body is looked at); a wrong phrase is 400.
    #[tracing::instrument(skip_all)]
    pub async fn delete(&self, caller: &Caller, uuid: Uuid, dto: RemoveAccountDto) -> Result<()> {
        let account = &caller.account;
        // Another account answers exactly as a missing one: a 403 would confirm that the
        // uuid exists (account enumeration).
        if uuid != account.uuid {
            return Err(Error::Refused(Refusal::AccountNotFound));
        }
        let mut problems = Problems::new();
        if dto.confirm.as_deref() != Some(DELETE_CONFIRMATION) {
            problems.push(format!("confirm must be exactly '{DELETE_CONFIRMATION}'"));
        }
        let reason = problems.check(people::parse_text(
            "reason",
            dto.reason.as_deref(),
            MAX_REASON,
        ));
        problems.finish()?;
        let at = time::now();
        let person_uuid = caller.person.as_ref().map(|p| p.uuid);
        let event = Event::AccountDeleted(AccountDeleted {
            account_uuid: account.uuid,
            person_uuid,
            reason: reason.flatten(),
        });
        // Which objects go is read before the rows do; they are removed only after the
        // deletion committed, so a refused deletion (escrow) keeps every byte.
        let gone = match &caller.person {
            Some(p) => self.store.assets_removed_with_person(p.id).await?,
            None => Vec::new(),
        };
        self.store
            .delete_account(account.id, &[EventEnvelope::new(event, at)])
            .await?;
        self.callers.forget(&account.cognito_user_id);
        self.outbox.nudge();
        self.assets.remove_objects(&gone).await;
        tracing::info!(account = %account.uuid, person = ?person_uuid, "account deleted with everything that was theirs");
        Ok(())
    }
}
