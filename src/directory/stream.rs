//! `DINGTALK_EVENTS=stream`: this instance holds a Stream-mode connection to DingTalk (no
//! public URL needed) and applies the directory's events it receives, acknowledging each
//! only after its change is committed (`LATER` when it could not be, so DingTalk delivers
//! it again). Every instance may hold a connection; an event is applied once however many
//! receive it (`DirectoryService::apply_event`). A dropped connection, or DingTalk's
//! `disconnect`, is followed by a new one, after a backoff that grows on failures.

use std::sync::Arc;
use std::time::Duration;

use super::events::DirectoryEvent;
use super::{DirectoryError, DirectoryService};
use crate::providers::dingtalk::stream::{self, EventStatus, Frame, Socket, StreamApi};

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const LONGEST_BACKOFF: Duration = Duration::from_secs(60);

/// How a connection that was up ended.
enum Ended {
    /// DingTalk said `disconnect`: reconnect at once.
    Asked,
    /// It dropped: reconnect after a short pause.
    Lost(String),
}

/// Runs for as long as the process does.
pub async fn hold_connection(service: Arc<DirectoryService>, api: StreamApi) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match connect_and_serve(&service, &api).await {
            Ok(Ended::Asked) => {
                tracing::info!(
                    event = "directory_stream",
                    state = "reconnecting",
                    "DingTalk asked to reconnect"
                );
                backoff = FIRST_BACKOFF;
            }
            Ok(Ended::Lost(reason)) => {
                tracing::warn!(event = "directory_stream", state = "lost", reason = %reason, "the Stream-mode connection dropped; reconnecting");
                backoff = FIRST_BACKOFF;
                tokio::time::sleep(FIRST_BACKOFF).await;
            }
            Err(reason) => {
                tracing::warn!(event = "directory_stream", state = "down", reason = %reason, retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX), "cannot connect to DingTalk in Stream mode");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(LONGEST_BACKOFF);
            }
        }
    }
}

/// One connection, until it ends; `Err` when it could not be made.
async fn connect_and_serve(service: &DirectoryService, api: &StreamApi) -> Result<Ended, String> {
    let url = api.open().await.map_err(|e| e.to_string())?;
    let mut socket = api.connect(&url).await.map_err(|e| e.to_string())?;
    tracing::info!(
        event = "directory_stream",
        state = "connected",
        "connected to DingTalk in Stream mode"
    );
    crate::metrics::directory_stream_connected(true);
    let ended = serve(service, &mut socket).await;
    crate::metrics::directory_stream_connected(false);
    Ok(ended)
}

async fn serve(service: &DirectoryService, socket: &mut Socket) -> Ended {
    while let Some(frame) = stream::next_frame(socket).await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                tracing::warn!(error = %error, "an unreadable Stream-mode frame was ignored");
                continue;
            }
        };
        let message_id = frame.header("messageId").unwrap_or_default().to_owned();
        let answer = match (frame.kind.as_str(), frame.header("topic")) {
            ("SYSTEM", Some("ping")) => stream::pong(&message_id, frame.data_text()),
            ("SYSTEM", Some("disconnect")) => return Ended::Asked,
            ("EVENT", _) => stream::event_ack(&message_id, take_event(service, &frame).await),
            ("SYSTEM", _) => continue,
            _ => stream::not_handled(&message_id),
        };
        if !stream::send(socket, answer).await {
            return Ended::Lost("the acknowledgement could not be sent".into());
        }
    }
    Ended::Lost("DingTalk closed the connection".into())
}

/// Applies one event frame; how it went, for its ACK.
async fn take_event(service: &DirectoryService, frame: &Frame) -> EventStatus {
    let event = match DirectoryEvent::from_stream(&frame.headers, &frame.data_text()) {
        Ok(event) => event,
        Err(error) => {
            // Delivering it again would not make it readable.
            tracing::warn!(error = %error, "a Stream-mode event was not understood; acknowledged");
            return EventStatus::Success;
        }
    };
    let change = event.change.clone();
    match service.apply_event(event, "stream").await {
        Ok(outcome) => {
            outcome.log(&change);
            EventStatus::Success
        }
        Err(DirectoryError::ForeignEvent(corp_id)) => {
            tracing::warn!(event = "directory_event_refused", reason = "about another organisation", corp_id = %corp_id, "a Stream-mode event was refused; nothing written");
            EventStatus::Success
        }
        Err(error) => {
            tracing::error!(event = "directory_event_failed", change = change.name(), error = %error, "a Stream-mode event could not be applied; DingTalk will deliver it again");
            EventStatus::Later
        }
    }
}
