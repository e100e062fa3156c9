//! WebSocket actions of issue 15 (read state): `markRead` and `typing`, and the `read`
//! frames a moved read position sends (also for `PATCH /chats/{chatUuid}/read`).
//!
//! Frames go through the Notifier's `Deliver` without a push, so they reach the
//! participants' connections on this node and, through the cluster link, on others;
//! a participant online nowhere simply gets nothing (read state is not worth a push).

use crate::routes::chats::{MarkReadAction, MarkReadActionDto, TypingAction, TypingActionDto};
use crate::state::AppState;
use metmos_actors::frames::ServerFrame;
use metmos_actors::notifier::Deliver;
use metmos_actors::user_session::ConnId;
use metmos_engine::domain::people::PersonIds;
use metmos_engine::error::{Error, Result};
use metmos_engine::services::read_state::ReadMarked;

/// Parses an action's `data` into its typed command (400 with the reason otherwise).
fn parse<D, C>(data: serde_json::Value) -> Result<C>
where
    D: serde::de::DeserializeOwned,
    C: TryFrom<D, Error = Error>,
{
    let dto: D = serde_json::from_value(data)
        .map_err(|e| Error::validation(format!("Invalid data: {e}")))?;
    C::try_from(dto)
}

/// `{"action":"markRead","data":{"chatUuid","seq"}}`: moves the caller's read position
/// (no answer frame: the caller's other devices and, with receipts, the others get
/// `read`).
#[tracing::instrument(name = "ws.mark_read", skip_all, fields(person = %person.uuid))]
pub async fn mark_read(
    state: &AppState,
    person: PersonIds,
    origin: ConnId,
    data: serde_json::Value,
) -> Result<()> {
    let cmd: MarkReadAction = parse::<MarkReadActionDto, _>(data)?;
    let marked = state
        .engine
        .read_state
        .mark_read(person, cmd.chat_uuid, cmd.seq)
        .await?;
    deliver_read(state, person, &marked, Some(origin));
    Ok(())
}

/// `{"action":"typing","data":{"chatUuid"}}`: a `typing` frame to the other
/// participants who are online, at most one per person and chat every 2 seconds
/// (extra ones dropped silently). Never stored, never pushed.
#[tracing::instrument(name = "ws.typing", skip_all, fields(person = %person.uuid))]
pub async fn typing(state: &AppState, person: PersonIds, data: serde_json::Value) -> Result<()> {
    let cmd: TypingAction = parse::<TypingActionDto, _>(data)?;
    let Some(others) = state
        .engine
        .read_state
        .typing(person, cmd.chat_uuid)
        .await?
    else {
        return Ok(());
    };
    if others.is_empty() {
        return Ok(());
    }
    let frame = ServerFrame::Typing {
        chat_uuid: cmd.chat_uuid,
        person_uuid: person.uuid,
    }
    .to_frame();
    state.realtime.notifier.do_send(Deliver {
        persons: others,
        frame,
        except: None,
        order: None,
        push: None,
    });
    Ok(())
}

/// Sends the `read` frame of a moved position to its recipients (the reader's devices
/// but `origin`, and the participants receipts allow); nothing when it did not move.
pub fn deliver_read(
    state: &AppState,
    reader: PersonIds,
    marked: &ReadMarked,
    origin: Option<ConnId>,
) {
    if marked.recipients.is_empty() {
        return;
    }
    let frame = ServerFrame::Read {
        chat_uuid: marked.chat_uuid,
        person_uuid: reader.uuid,
        seq: marked.seq,
    }
    .to_frame();
    state.realtime.notifier.do_send(Deliver {
        persons: marked.recipients.clone(),
        frame,
        except: origin,
        order: None,
        push: None,
    });
}
